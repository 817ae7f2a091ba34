"""Prepare DMS assays: metadata CSVs and FASTA files of mutated sequences for the pipeline."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from plmtransfer import layout
from plmtransfer.cli.common import HelpFormatter, add_version, run_cli
from plmtransfer.data.datasets import (
    CANONICAL_URL,
    DUPLICATE_POLICIES,
    AssayReport,
    prepare_assays,
    study_dms_assays,
)
from plmtransfer.errors import UserError, did_you_mean
from plmtransfer.io import write_dataframe_csv
from plmtransfer.options import positive_int

EPILOG = f"""\
writes DMS_metadata/<D>_metadata.csv, DMS_mut_sequences/<D>_muts.fasta and
DMS_metadata/<D>_wildtype.fasta (the wild type, derived from the variants; used by zero_shot.py).

sources, in order: --mirror DIR (reads DIR/<D>.csv.gz), then the canonical source
  {CANONICAL_URL}
  (skipped with --offline or PLMTRANSFER_OFFLINE=1).

repeated IDs (--duplicates):
  mean   one row per ID, target = mean of its rows; refused if the rows differ in sequence
         (default: replicate measurements of one variant are averaged, and no sequence can
         sit in both the training and the test fold of the regression)
  first  keep the first row of each ID
  error  stop and name the repeated IDs

examples:
  python scripts/prepare_dms.py --mirror ../shared/data/dms
  python scripts/prepare_dms.py --datasets IF1_ECOLI SUMO1_HUMAN_Roth2017 --out-dir data
"""


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(study_dms_assays()), metavar="D",
                        help="assay names (default: the study's 40 DMS assays)")
    parser.add_argument("--mirror", default=None, metavar="DIR",
                        help="offline mirror holding <D>.csv.gz files, e.g. ../shared/data/dms")
    parser.add_argument("--out-dir", default="data", help="writes DMS_metadata/ and DMS_mut_sequences/ here")
    parser.add_argument("--duplicates", choices=DUPLICATE_POLICIES, default="mean",
                        help="what to do with repeated IDs (see below)")
    parser.add_argument("--max-variants", type=positive_int, default=None, metavar="N",
                        help="keep at most N variants per assay, drawn at random with --seed (in file "
                             "order; the same rows for every model); default: all")
    parser.add_argument("--seed", type=int, default=0, help="random seed of --max-variants")
    parser.add_argument("--offline", action="store_true", help="never try the canonical source")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return add_version(parser)


def check_assay_names(names: list[str], mirror: str | None) -> None:
    """Refuse a likely typo at once: a name that is no study assay (config/study.yaml), is not in
    the mirror and is close to a study assay, with a "did you mean" (other names are looked up)."""
    for name in names:
        in_mirror = mirror is not None and any(path.is_file() for path in layout.mirror_candidates(mirror, name))
        hint = "" if name in study_dms_assays() or in_mirror else did_you_mean(name, study_dms_assays())
        if hint:
            where = "config/study.yaml's DMS assays" + (f" nor in {mirror}" if mirror else "")
            raise UserError(f"unknown assay {name!r} (not one of {where}): {hint}")


def print_reports(reports: list[AssayReport], out_dir: str) -> None:
    """Print one line per prepared assay, then the repeated IDs, missing and failed assays."""
    prepared = [report for report in reports if report.status == "prepared"]
    for report in prepared:
        print(f"{report.name:<34} {report.rows_read:>6} rows read  {report.rows_written:>6} written")
    for report in prepared:
        if report.repeated_ids:
            print(f"repeated IDs in {report.name}: {report.repeated_ids} IDs in "
                  f"{report.rows_with_repeated_ids} rows ({report.exact_duplicate_rows} exact duplicate "
                  f"rows), e.g. {', '.join(report.examples)}")
    for report in prepared:
        if report.subsample:
            print(f"subsampled {report.name}: {report.subsample}")
    for report in prepared:
        if report.wildtype.startswith("not derived") or "offset" in report.wildtype:
            print(f"wild type of {report.name}: {report.wildtype}")
    missing = [report.name for report in reports if report.status == "missing"]
    if missing:
        print(f"not found in the mirror or the canonical source ({len(missing)}): {' '.join(missing)}")
    for report in reports:
        if report.status == "failed":
            print(f"FAILED {report.name}: {report.message}", file=sys.stderr)
    print(f"prepared {len(prepared)} of {len(reports)} assays into {out_dir}/DMS_metadata and "
          f"{out_dir}/DMS_mut_sequences")


def main(argv=None) -> int:
    """Prepare the assays; exit 1 if any failed validation, 2 if none could be found."""
    args = create_parser().parse_args(argv)
    names = list(dict.fromkeys(args.datasets))
    check_assay_names(names, args.mirror)
    import pandas as pd

    from plmtransfer.backends.weights import is_offline  # torch: after the checks, so --help and typos are instant

    progress = tqdm(names, desc="assays", unit="assay", disable=args.quiet, file=sys.stderr)
    reports = []
    for name in progress:
        progress.set_postfix_str(name)
        reports += prepare_assays([name], args.out_dir, args.mirror, args.offline or is_offline(),
                                  args.duplicates, args.max_variants, args.seed)
    print_reports(reports, args.out_dir)
    if all(report.status == "missing" for report in reports):  # nothing prepared: nothing written
        raise UserError("none of the requested assays was found: pass --mirror DIR or check the network")
    summary = [vars(report) | {"examples": " ".join(report.examples)} for report in reports]
    write_dataframe_csv(pd.DataFrame(summary), layout.dms_report_path(args.out_dir))
    return 1 if any(report.status == "failed" for report in reports) else 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
