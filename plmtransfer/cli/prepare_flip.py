"""Prepare FLIP's GB1 splits: one metadata CSV per split (with its train/test set) and one FASTA."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plmtransfer import layout
from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.data import flip

EPILOG = f"""\
outputs (under --out-dir):
  FLIP/gb1.fasta                   every variant once (>ID = its residues at sites 39, 40, 41, 54)
  FLIP/gb1_wildtype.fasta          FLIP's GB1 reference sequence
  FLIP_metadata/gb1_<split>.csv    ID,target,sequence,set,validation for each split
  FLIP/prepare_report.csv          rows per split: train (validation included), validation, test

splits: {', '.join(flip.SPLITS)}.
Regress with the split's own train/test sets: scripts/reg_lassoCV.py --cv predefined.

examples:
  python scripts/prepare_flip.py --source ../shared/data/flip_gb1
  python scripts/prepare_flip.py --source splits.zip --splits low_vs_high sampled
"""


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("--source", type=Path, required=True,
                        help="FLIP GB1 mirror directory (<split>.csv.gz or <split>.csv) or FLIP's "
                             "splits/gb1/splits.zip")
    parser.add_argument("--splits", nargs="+", default=list(flip.SPLITS), choices=flip.SPLITS,
                        help="splits to prepare")
    parser.add_argument("--out-dir", type=Path, default=Path(layout.DATA_DIR), help="data directory")
    add_version(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Prepare the splits and print one line per split."""
    args = create_parser().parse_args(argv)
    for report in flip.prepare(args.source, args.out_dir, tuple(args.splits)):
        print(f"{report.dataset}: train {report.train} (validation {report.validation}), test {report.test} "
              f"-> {report.path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
