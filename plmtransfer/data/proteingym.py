"""ProteinGym's substitution assays (Notin et al. 2023) in the study's layout, and results in ProteinGym's.

In: ProteinGym releases one CSV per assay ``<DMS_id>.csv`` with columns ``mutant`` (``A23P``,
``A23P:G45D``; one-based positions on the assay's ``target_seq``), ``mutated_sequence``,
``DMS_score`` (oriented so that higher is fitter) and ``DMS_score_bin``; the supervised files
(``cv_folds_singles_substitutions``) add its cross-validation folds ``fold_random_5``,
``fold_modulo_5`` and ``fold_contiguous_5`` (0-4). Its reference table ``DMS_substitutions.csv``
gives each assay's ``DMS_id`` and ``target_seq``. Both are read from local files (a folder of
assay CSVs, plain or gzipped, or ProteinGym's zip archive; the reference CSV) or, when the
network allows, downloaded from the canonical URLs below into ``<out>/ProteinGym/``.

Each assay ``<D>`` (its ``DMS_id``) is written in the DMS layout of :mod:`plmtransfer.layout`:

- ``DMS_metadata/<D>_metadata.csv``: ``ID,mutant,target,sequence`` plus the fold columns the
  file has (``ID`` is ``<D>_<mutant>``, as in the study's files; ``target`` is ``DMS_score``);
- ``DMS_mut_sequences/<D>_muts.fasta``: ``>ID`` / mutated sequence, in the same order;
- ``DMS_metadata/<D>_wildtype.fasta``: the reference's ``target_seq`` (for zero-shot scoring).

Every variant is checked against ``target_seq`` (its wild-type letters, and its sequence equal
to ``target_seq`` with its substitutions applied); nothing is written for an assay that fails.
The regression stage then runs on ProteinGym's own folds with ``--cv predefined --fold-column
fold_contiguous_5`` (:func:`plmtransfer.learn.splits.column_folds`).

Out: ProteinGym scores a supervised model per assay and fold scheme by Spearman's rho and the
mean squared error of the out-of-fold predictions, pooled over the scheme's five test folds
(ProteinNPT's ``log_performance_all_folds``, whose long-format file ProteinGym's
``proteingym/performance_DMS_supervised_benchmarks.py --input_scoring_file`` reads). :func:`supervised_scores`
computes that row from the regression's out-of-fold predictions and
:func:`write_supervised_scores` writes the rows with ProteinGym's column names ``SCORE_COLUMNS``.
"""

from __future__ import annotations

import io
import os
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from plmtransfer import layout
from plmtransfer.data.sequences import check_sequence, write_fasta
from plmtransfer.errors import UserError
from plmtransfer.io import atomic_path, write_dataframe_csv

if TYPE_CHECKING:  # pandas is imported where it is used: prepare_proteingym.py --help must answer at once
    import pandas as pd

ASSAYS_URL = "https://marks.hms.harvard.edu/proteingym/ProteinGym_v1.3/cv_folds_singles_substitutions.zip"
REFERENCE_URL = ("https://raw.githubusercontent.com/OATML-Markslab/ProteinGym/main/"
                 "reference_files/DMS_substitutions.csv")
DOWNLOAD_TIMEOUT_SECONDS = 60
DOWNLOAD_DIR = "ProteinGym"  # under the data directory: where canonical downloads are kept
SOURCE_COLUMNS = ("mutant", "mutated_sequence", "DMS_score")
REFERENCE_COLUMNS = ("DMS_id", "target_seq")
FOLD_COLUMNS = ("fold_random_5", "fold_modulo_5", "fold_contiguous_5")
OUTPUT_COLUMNS = ["ID", "mutant", "target", "sequence"]
# ProteinGym's long-format supervised scores (the input of proteingym/performance_DMS_supervised_benchmarks.py)
SCORE_COLUMNS = ["model_name", "DMS_id", "fold_variable_name", "Spearman", "MSE"]


@dataclass
class AssayReport:
    """What preparing one ProteinGym assay read and wrote."""

    name: str
    source: str
    rows: int
    fold_columns: tuple[str, ...]
    metadata: Path


def download(url: str, destination: Path, what: str) -> Path:
    """``url`` saved atomically at ``destination`` (kept: a second run reads it); a one-line error offline."""
    if destination.is_file():
        return destination
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response, \
                atomic_path(destination) as temporary:
            temporary.write_bytes(response.read())
    except (OSError, urllib.error.URLError) as reason:
        raise UserError(f"{what}: not given and the canonical download {url} failed ({reason}); "
                        f"pass a local copy") from None
    return destination


def resolve_sources(assays: str | os.PathLike | None, reference: str | os.PathLike | None,
                    out_dir: str | os.PathLike, offline: bool) -> tuple[Path, Path]:
    """The local assay source and reference file: as given, else downloaded (unless ``offline``)."""
    cache = Path(out_dir) / DOWNLOAD_DIR
    paths = []
    for given, url, what, flag in ((assays, ASSAYS_URL, "ProteinGym assays", "--source"),
                                   (reference, REFERENCE_URL, "ProteinGym reference", "--reference")):
        if given is not None:
            path = Path(given)
            if not path.exists():
                raise UserError(f"{path}: {what} not found ({flag})")
        elif offline:
            raise UserError(f"{what}: pass {flag} (offline: the canonical download {url} is not tried)")
        else:
            path = download(url, cache / url.rsplit("/", 1)[1], f"{what} ({flag})")
        paths.append(path)
    return paths[0], paths[1]


def read_reference(path: str | os.PathLike) -> pd.DataFrame:
    """ProteinGym's reference table indexed by ``DMS_id`` (needs ``DMS_id`` and ``target_seq``)."""
    import pandas as pd

    frame = pd.read_csv(path)
    missing = [column for column in REFERENCE_COLUMNS if column not in frame.columns]
    if missing:
        raise UserError(f"{path}: missing column(s) {', '.join(missing)}; ProteinGym's DMS_substitutions.csv "
                        "has DMS_id and target_seq")
    repeated = frame["DMS_id"][frame["DMS_id"].duplicated()]
    if len(repeated):
        raise UserError(f"{path}: DMS_id {repeated.iloc[0]} appears more than once")
    return frame.set_index("DMS_id")


def read_assay(source: str | os.PathLike, dms_id: str) -> tuple[pd.DataFrame, str]:
    """One assay's CSV from a folder (``<D>.csv`` or ``<D>.csv.gz``) or ProteinGym's zip; and where it was."""
    import pandas as pd

    source = Path(source)
    if source.is_file() and zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            members = [name for name in archive.namelist() if Path(name).name == f"{dms_id}.csv"]
            if not members:
                raise UserError(f"{source}: no {dms_id}.csv in the archive")
            return pd.read_csv(io.BytesIO(archive.read(members[0]))), f"{source}:{members[0]}"
    for candidate in (source / f"{dms_id}.csv", source / f"{dms_id}.csv.gz"):
        if candidate.is_file():
            return pd.read_csv(candidate), str(candidate)
    raise UserError(f"{source}: no {dms_id}.csv or {dms_id}.csv.gz (a folder of ProteinGym assay CSVs "
                    "or ProteinGym's zip archive)")


def bad_cell(source: str, row: int, column: str, value, expected: str) -> UserError:
    """The error of a cell that is empty or not ``expected``, naming the file's line (the header is line 1)."""
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value).strip()
    problem = "is empty" if not text else f"{text!r} is not {expected}"
    return UserError(f"{source}: line {row + 2}: {column} {problem}")


def fold_numbers(frame: pd.DataFrame, column: str, source: str) -> pd.Series:
    """A fold column as integers; an error naming the line of a missing or non-integer value."""
    import pandas as pd

    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | (values != values.round())
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise bad_cell(source, row, column, frame[column].iloc[row], "a fold number")
    return values.astype(int)


def convert_assay(frame: pd.DataFrame, dms_id: str, target_seq: str, source: str) -> pd.DataFrame:
    """A ProteinGym assay as the study's metadata (``OUTPUT_COLUMNS`` + fold columns), checked.

    Errors name the source and the line (the header is line 1).
    """
    import pandas as pd

    from plmtransfer.data.mutants import check_variants, variants_from_frame

    missing = [column for column in SOURCE_COLUMNS if column not in frame.columns]
    if missing:
        raise UserError(f"{source}: missing column(s) {', '.join(missing)}; ProteinGym's assay files have "
                        f"{', '.join(SOURCE_COLUMNS)} (found {', '.join(map(str, frame.columns))})")
    if frame.empty:
        raise UserError(f"{source}: no rows")
    mutants = frame["mutant"].astype(str).str.strip()
    repeated = mutants.duplicated()
    if repeated.any():
        row = int(repeated.to_numpy().nonzero()[0][0])
        raise UserError(f"{source}: line {row + 2}: mutant {mutants.iloc[row]} appears twice")
    target = pd.to_numeric(frame["DMS_score"], errors="coerce")
    if target.isna().any():
        row = int(target.isna().to_numpy().nonzero()[0][0])
        raise bad_cell(source, row, "DMS_score", frame["DMS_score"].iloc[row], "a number")
    sequences = [check_sequence(str(sequence) if isinstance(sequence, str) else "", f"{source}: line {row + 2}")
                 for row, sequence in enumerate(frame["mutated_sequence"])]
    metadata = pd.DataFrame({"ID": [f"{dms_id}_{mutant}" for mutant in mutants], "mutant": mutants,
                             "target": target.astype(float), "sequence": sequences})
    wildtype = check_sequence(str(target_seq), f"reference target_seq of {dms_id}")
    check_variants(variants_from_frame(metadata, f"{source} (against the reference target_seq)"), wildtype)
    for column in FOLD_COLUMNS:
        if column in frame.columns:
            metadata[column] = fold_numbers(frame, column, source).to_numpy()
    return metadata


def prepare(dms_ids: list[str], assays: str | os.PathLike | None, reference: str | os.PathLike | None,
            out_dir: str | os.PathLike, offline: bool = False) -> list[AssayReport]:
    """Convert and write each assay (see the module); the first failing assay stops with its error."""
    assays_path, reference_path = resolve_sources(assays, reference, out_dir, offline)
    table = read_reference(reference_path)
    reports = []
    for dms_id in dict.fromkeys(dms_ids):
        if dms_id not in table.index:
            raise UserError(f"{reference_path}: no DMS_id {dms_id} in the reference")
        frame, source = read_assay(assays_path, dms_id)
        target_seq = str(table.at[dms_id, "target_seq"])
        metadata = convert_assay(frame, dms_id, target_seq, source)
        path = write_dataframe_csv(metadata, layout.metadata_path(layout.DMS, dms_id, out_dir))
        write_fasta(zip(metadata["ID"], metadata["sequence"], strict=True),
                    layout.fasta_path(layout.DMS, dms_id, out_dir))
        write_fasta([(f"{dms_id} wild type (ProteinGym reference target_seq)", target_seq.strip().upper())],
                    layout.wildtype_path(dms_id, out_dir))
        folds = tuple(column for column in FOLD_COLUMNS if column in metadata.columns)
        reports.append(AssayReport(dms_id, source, len(metadata), folds, path))
    return reports


# ----------------------------------------------------------------------------- results


def supervised_scores(predictions: pd.DataFrame, model_name: str, dms_id: str,
                      fold_variable_name: str) -> dict:
    """One row of ProteinGym's supervised scores from out-of-fold predictions (``target``, ``prediction``).

    Spearman's rho and the mean squared error over all test rows of all folds pooled, as
    ProteinGym's supervised benchmark computes them; NaN when there are no predictions (or rho
    is undefined: constant predictions).
    """
    import numpy as np
    from scipy.stats import spearmanr

    target = predictions["target"].to_numpy(dtype=np.float64)
    predicted = predictions["prediction"].to_numpy(dtype=np.float64)
    defined = len(target) > 1 and np.ptp(target) > 0 and np.ptp(predicted) > 0
    return {"model_name": model_name, "DMS_id": dms_id, "fold_variable_name": fold_variable_name,
            "Spearman": float(spearmanr(target, predicted)[0]) if defined else float("nan"),
            "MSE": float(np.mean((target - predicted) ** 2)) if len(target) else float("nan")}


def write_supervised_scores(rows: list[dict], path: str | os.PathLike) -> Path:
    """Write supervised-score rows (``SCORE_COLUMNS``) as one CSV, atomically."""
    import pandas as pd

    return write_dataframe_csv(pd.DataFrame(rows, columns=SCORE_COLUMNS), path)
