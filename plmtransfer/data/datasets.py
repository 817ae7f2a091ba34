"""Deep mutational scanning (DMS) data preparation: fetch, validate, de-duplicate, write.

For each assay ``<D>`` the study's metadata file ``<D>_metadata.csv`` (columns: an unnamed
index, ``ID``, ``mutant``, ``target``, ``sequence``) is read from an offline mirror
(``<mirror>/<D>.csv.gz``) or downloaded from the canonical source, validated, and written as

- ``<out>/DMS_metadata/<D>_metadata.csv`` with columns ``ID,mutant,target,sequence``;
- ``<out>/DMS_mut_sequences/<D>_muts.fasta`` with ``>ID`` / sequence, in the same order;
- ``<out>/DMS_metadata/<D>_wildtype.fasta``: the wild type, derived from the variants
  (:func:`plmtransfer.data.mutants.derive_wildtype`), for zero-shot scoring. Its header notes a
  constant numbering offset of the mutant strings when one was found. When no wild type can
  be derived (no mutant column, inconsistent variants) the assay is still prepared and the
  report says why.

Repeated IDs occur in real assays (synonymous variants measured twice with different
targets, exact duplicate rows). Every later stage keys on ``ID``, so they are resolved here
by an explicit policy: ``mean`` (default: one row per ID with the mean target, allowed only
when the repeated rows share one sequence), ``first`` or ``error``.
"""

from __future__ import annotations

import functools
import io
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from plmtransfer import config as study_config
from plmtransfer import layout
from plmtransfer.data.sequences import check_sequence, write_fasta
from plmtransfer.errors import UserError
from plmtransfer.io import write_dataframe_csv

if TYPE_CHECKING:  # pandas is imported where it is used: prepare_dms.py --help must answer at once
    import pandas as pd

# the study's repository, whose data/ has this pipeline's layout
CANONICAL_URL = ("https://raw.githubusercontent.com/ziul-bio/SWAT/main/"
                 + layout.metadata_path(layout.DMS, "{name}").as_posix())
DOWNLOAD_TIMEOUT_SECONDS = 30
REQUIRED_COLUMNS = ("ID", "target", "sequence")
OUTPUT_COLUMNS = ["ID", "mutant", "target", "sequence"]
DUPLICATE_POLICIES = ("mean", "first", "error")



@functools.cache
def study_dms_assays() -> tuple[str, ...]:
    """The 40 DMS assays of the study (Vieira, Handojo & Wilke 2025) in its order, read from config/study.yaml
    on first use (no module reads the configuration at import time)."""
    return tuple(study_config.datasets(study_config.load_config(), "DMS"))


@dataclass
class AssayReport:
    """What preparing one assay found and did."""

    name: str
    source: str = ""
    rows_read: int = 0
    rows_written: int = 0
    repeated_ids: int = 0
    rows_with_repeated_ids: int = 0
    exact_duplicate_rows: int = 0
    status: str = "missing"
    wildtype: str = ""
    subsample: str = ""
    message: str = ""
    examples: list[str] = field(default_factory=list)


def metadata_path(out_dir: str | os.PathLike, name: str) -> Path:
    """Path of an assay's prepared metadata CSV (docs/contracts.md)."""
    return layout.metadata_path(layout.DMS, name, out_dir)


def fasta_path(out_dir: str | os.PathLike, name: str) -> Path:
    """Path of an assay's prepared FASTA of mutated sequences."""
    return layout.fasta_path(layout.DMS, name, out_dir)


def wildtype_path(out_dir: str | os.PathLike, name: str) -> Path:
    """Path of an assay's wild-type FASTA (derived from its variants)."""
    return layout.wildtype_path(name, out_dir)


def record_wildtype(clean: pd.DataFrame, name: str, out_dir: Path, source: str) -> str:
    """Derive the wild type of a prepared assay and write it; return what the report says.

    A constant numbering offset of the mutant strings is detected and noted in the FASTA
    header (the wild type is derived with it: it does not depend on the numbering).
    """
    from plmtransfer.data.mutants import derive_wildtype, detect_offset, variants_from_frame  # pandas: not for --help

    try:
        variants = variants_from_frame(clean, source)
        offset = detect_offset(variants)
        wildtype = derive_wildtype(variants, offset or 0)
    except UserError as error:
        wildtype_path(out_dir, name).unlink(missing_ok=True)
        return f"not derived: {error}"
    note = "" if not offset else f" mutant_offset={offset:+d}"
    write_fasta([(f"{name} wild type derived from {len(clean)} variants{note}", wildtype)],
                wildtype_path(out_dir, name))
    return f"{len(wildtype)} residues" + (f", mutant positions offset {offset:+d}" if offset else "")


def read_from_mirror(mirror: Path, name: str) -> tuple[pd.DataFrame, str] | None:
    """Read ``<mirror>/<D>.csv.gz`` (or ``<D>_metadata.csv``); None when the mirror lacks it."""
    import pandas as pd

    for candidate in layout.mirror_candidates(mirror, name):
        if candidate.is_file():
            return pd.read_csv(candidate, dtype={"ID": str}), str(candidate)
    return None


def read_from_canonical(name: str) -> tuple[pd.DataFrame, str] | None:
    """Download ``<D>_metadata.csv`` from the study's repository; None when unreachable."""
    import pandas as pd

    url = CANONICAL_URL.format(name=name)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            text = response.read().decode("utf-8")
    except (OSError, urllib.error.URLError):
        return None
    return pd.read_csv(io.StringIO(text), dtype={"ID": str}), url


def validate_assay(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check columns, sequences and targets; return ``ID,mutant,target,sequence`` (upper case).

    Raises :class:`UserError` naming the source, the row and the problem.
    """
    import pandas as pd

    missing = [column for column in REQUIRED_COLUMNS if column not in frame.columns]
    if missing:
        raise UserError(f"{source}: missing required column(s) {', '.join(missing)} "
                        f"(found {', '.join(map(str, frame.columns))})")
    if frame.empty:
        raise UserError(f"{source}: no rows")
    clean = pd.DataFrame({
        "ID": frame["ID"].astype(str).str.strip(),
        "mutant": frame["mutant"].astype(str) if "mutant" in frame.columns else "",
        "target": pd.to_numeric(frame["target"], errors="coerce"),
        "sequence": frame["sequence"],
    })
    empty_ids = clean.index[clean["ID"].isin(["", "nan"])]
    if len(empty_ids):
        raise UserError(f"{source}: row {empty_ids[0] + 1} has an empty ID")
    bad_targets = clean.index[clean["target"].isna()]
    if len(bad_targets):
        first = bad_targets[0]
        raise UserError(f"{source}: row {first + 1} (ID {clean.at[first, 'ID']}): target "
                        f"{frame['target'].iloc[first]!r} is not a number "
                        f"({len(bad_targets)} such rows)")
    clean["sequence"] = [
        check_sequence(str(sequence) if isinstance(sequence, str) else "",
                       f"{source}: row {row + 1} (ID {identifier})")
        for row, (identifier, sequence) in enumerate(zip(clean["ID"], clean["sequence"], strict=True))
    ]
    return clean


def resolve_duplicates(frame: pd.DataFrame, policy: str, source: str,
                       report: AssayReport) -> pd.DataFrame:
    """Apply the repeated-ID ``policy`` and record what was found in ``report``."""
    repeated = frame["ID"].duplicated(keep=False)
    report.rows_with_repeated_ids = int(repeated.sum())
    report.repeated_ids = int(frame.loc[repeated, "ID"].nunique())
    report.exact_duplicate_rows = int(frame.duplicated().sum())
    if not report.repeated_ids:
        return frame
    counts = frame.loc[repeated, "ID"].value_counts(sort=False)
    report.examples = [f"{identifier} x{count}" for identifier, count in counts.head(5).items()]
    if policy == "error":
        raise UserError(f"{source}: {report.repeated_ids} repeated IDs in "
                        f"{report.rows_with_repeated_ids} rows (e.g. {', '.join(report.examples)}); "
                        "choose --duplicates mean or first")
    if policy == "first":
        return frame.drop_duplicates("ID", keep="first").reset_index(drop=True)
    sequences_per_id = frame.groupby("ID", sort=False)["sequence"].nunique()
    conflicting = sequences_per_id[sequences_per_id > 1]
    if len(conflicting):
        raise UserError(f"{source}: ID {conflicting.index[0]} has {conflicting.iloc[0]} different "
                        f"sequences ({len(conflicting)} such IDs): averaging their targets would mix "
                        "proteins; use --duplicates first or fix the file")
    grouped = frame.groupby("ID", sort=False)
    merged = grouped.first()
    merged["target"] = grouped["target"].mean()
    return merged.reset_index()[OUTPUT_COLUMNS]


def subsample_rows(frame: pd.DataFrame, max_rows: int | None, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows drawn at random with ``seed`` (``DataFrame.sample``), in file order.

    The same file, size and seed give the same rows on every machine, so every model and method
    of a sweep sees the same variants.
    """
    if max_rows is None or len(frame) <= max_rows:
        return frame
    return frame.sample(n=max_rows, random_state=seed).sort_index().reset_index(drop=True)


def prepare_assay(name: str, out_dir: Path, mirror: Path | None, offline: bool,
                  policy: str, max_variants: int | None = None, seed: int = 0) -> AssayReport:
    """Fetch, validate, de-duplicate, subsample (``max_variants``) and write one assay.

    The wild type is derived from all variants, before subsampling. Nothing is written for an
    assay that fails validation.
    """
    report = AssayReport(name)
    fetched = read_from_mirror(mirror, name) if mirror is not None else None
    if fetched is None and not offline:
        fetched = read_from_canonical(name)
    if fetched is None:
        return report
    frame, report.source = fetched
    report.rows_read = len(frame)
    clean = validate_assay(frame, report.source)
    clean = resolve_duplicates(clean, policy, report.source, report)
    report.wildtype = record_wildtype(clean, name, out_dir, report.source)
    kept = subsample_rows(clean, max_variants, seed)
    if len(kept) < len(clean):
        report.subsample = f"{len(kept)} of {len(clean)} variants (seed {seed})"
    write_dataframe_csv(kept, metadata_path(out_dir, name))
    write_fasta(zip(kept["ID"], kept["sequence"], strict=True), fasta_path(out_dir, name))
    report.rows_written = len(kept)
    report.status = "prepared"
    return report


def prepare_assays(names: list[str], out_dir: str | os.PathLike, mirror: str | os.PathLike | None,
                   offline: bool, policy: str = "mean", max_variants: int | None = None,
                   seed: int = 0) -> list[AssayReport]:
    """Prepare each assay, collecting validation failures instead of stopping at the first."""
    if policy not in DUPLICATE_POLICIES:
        raise UserError(f"unknown duplicates policy {policy!r}: use {', '.join(DUPLICATE_POLICIES)}")
    mirror_path = Path(mirror) if mirror is not None else None
    if mirror_path is not None and not mirror_path.is_dir():
        raise UserError(f"{mirror_path}: mirror directory not found")
    reports = []
    for name in names:
        try:
            reports.append(prepare_assay(name, Path(out_dir), mirror_path, offline, policy, max_variants, seed))
        except UserError as error:
            reports.append(AssayReport(name, status="failed", message=str(error)))
    return reports
