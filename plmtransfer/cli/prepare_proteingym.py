"""Prepare ProteinGym substitution assays: the study's DMS metadata (with ProteinGym's folds) and FASTA."""

from __future__ import annotations

import argparse
from pathlib import Path

from plmtransfer import layout
from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.data import proteingym

EPILOG = f"""\
outputs (under --out-dir), for each assay D (a ProteinGym DMS_id):
  DMS_metadata/D_metadata.csv      ID,mutant,target,sequence + the file's fold columns
                                   ({', '.join(proteingym.FOLD_COLUMNS)}); ID = D_<mutant>, target = DMS_score
  DMS_mut_sequences/D_muts.fasta   >ID / mutated sequence
  DMS_metadata/D_wildtype.fasta    the reference's target_seq (for zero_shot.py)

sources: --source (a folder of <D>.csv or <D>.csv.gz, or ProteinGym's zip) and --reference
(DMS_substitutions.csv); when one is not given it is downloaded into --out-dir/{proteingym.DOWNLOAD_DIR}/ from
  {proteingym.ASSAYS_URL}
  {proteingym.REFERENCE_URL}
(not with --offline or PLMTRANSFER_OFFLINE=1).

Regress on ProteinGym's own folds: scripts/reg_lassoCV.py --cv predefined --fold-column fold_contiguous_5
(add --proteingym SCORES.csv for its leaderboard's Spearman and MSE).

examples:
  python scripts/prepare_proteingym.py --datasets BLAT_ECOLX_Stiffler_2015 \\
      --source cv_folds_singles_substitutions.zip --reference DMS_substitutions.csv
  python scripts/prepare_proteingym.py --datasets D1 D2 --source folds/ --reference DMS_substitutions.csv --out-dir data
"""


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("--datasets", nargs="+", required=True, metavar="D",
                        help="ProteinGym DMS_ids (the names of its assay files without .csv)")
    parser.add_argument("--source", type=Path, default=None,
                        help="folder of ProteinGym assay CSVs (<D>.csv or <D>.csv.gz; the supervised "
                        "cv_folds_singles_substitutions files carry the folds) or ProteinGym's zip; "
                        "default: the canonical download")
    parser.add_argument("--reference", type=Path, default=None,
                        help="ProteinGym's reference table DMS_substitutions.csv (DMS_id, target_seq); "
                        "default: the canonical download")
    parser.add_argument("--out-dir", type=Path, default=Path(layout.DATA_DIR), help="data directory")
    parser.add_argument("--offline", action="store_true", help="never try the canonical downloads")
    return add_version(parser)


def main(argv: list[str] | None = None) -> int:
    """Prepare the assays and print one line per assay."""
    args = create_parser().parse_args(argv)
    from plmtransfer.backends.weights import is_offline  # torch: after parsing, so --help is instant

    reports = proteingym.prepare(args.datasets, args.source, args.reference, args.out_dir,
                                 args.offline or is_offline())
    for report in reports:
        folds = ", ".join(report.fold_columns) or "no fold columns"
        print(f"{report.name}: {report.rows} variants ({folds}) from {report.source} -> {report.metadata}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
