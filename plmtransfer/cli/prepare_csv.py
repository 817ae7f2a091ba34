"""Prepare a plain CSV of sequences and a measured value (a property table) as a data set: FASTA + metadata."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from plmtransfer import layout
from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.data import plain_csv

EPILOG = f"""\
input: a CSV with a header, one protein per line: a sequence column (--sequence-column), the value
to predict (--target-column) and optionally an ID column (--id-column; without it IDs are
<name>_<line>, the line of the input file).

outputs (under --out-dir; <SET> is --set, <name> is --name):
  <SET>/<name>.fasta               >ID / sequence
  <SET>_metadata/<name>.csv        ID,target,sequence in the file's order

Nothing is written unless the whole file is valid; an error names the file, the line and the
problem (missing column, empty sequence, letters that are not amino acids, missing or
non-numeric value, repeated ID, repeated sequence).

Then: scripts/extract.py MODEL {layout.DATA_DIR}/<SET>/<name>.fasta OUT --pool mean, and
scripts/reg_lassoCV.py -i OUT/... -m {layout.DATA_DIR}/<SET>_metadata/<name>.csv -o results.csv.

examples:
  python scripts/prepare_csv.py solubility.csv --target-column solubility
  python scripts/prepare_csv.py table.csv --target-column Tm --id-column uniprot --name meltome --set MELT
"""


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("csv", type=Path, help="the input CSV")
    parser.add_argument("--target-column", required=True, help="the column holding the value to predict")
    parser.add_argument("--id-column", default=None,
                        help="the column holding unique IDs (default: IDs <name>_<line> are generated)")
    parser.add_argument("--sequence-column", default=plain_csv.SEQUENCE_COLUMN, help="the column of sequences")
    parser.add_argument("--name", default=None, help="the data set's name (default: the file name without .csv)")
    parser.add_argument("--set", default=plain_csv.DEFAULT_SET, dest="set_name",
                        help="the family of data sets it belongs to (the folders <SET>/ and <SET>_metadata/)")
    parser.add_argument("--out-dir", type=Path, default=Path(layout.DATA_DIR), help="data directory")
    return add_version(parser)


def main(argv: list[str] | None = None) -> int:
    """Check and write the data set; print what was written."""
    args = create_parser().parse_args(argv)
    prepared = plain_csv.prepare(args.csv, args.target_column, args.out_dir, args.name, args.id_column,
                                 args.set_name, args.sequence_column)
    ids = "IDs generated as <name>_<line>" if prepared.generated_ids else f"IDs from column {args.id_column}"
    print(f"{prepared.name}: {prepared.rows} sequences ({ids}) -> {prepared.fasta}, {prepared.metadata}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
