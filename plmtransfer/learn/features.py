"""Feature assembly for the regression stage: metadata, embeddings and zero-shot scores joined on ``ID``.

The inputs of every regression (:mod:`plmtransfer.learn.regress`, :mod:`plmtransfer.learn.finetune`)
are read and checked here: the metadata CSV (``ID``, ``target``; IDs unique), the embeddings by
``ID`` (one vector each, equal lengths, finite, in the file's dtype), one-hot features of the
metadata's sequences, a zero-shot scores CSV (``ID``, ``score``) whose score becomes one more
feature column, and further compressed feature files (``--append``, ``--stack``: e.g. contact-map
features) whose columns follow the embedding's. :func:`join` inner-joins them in the metadata's row
order into a :class:`Table`; missing IDs up to a fraction are left out with a warning, more are an error.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from plmtransfer.data.sequences import onehot_encode
from plmtransfer.errors import UserError

SCORE_LABEL = "score"


@dataclass
class Table:
    """The joined data: metadata rows (in metadata order) and their feature matrix.

    ``stacked_columns``: how many of the last columns are the second first-level model's features
    (``--stack``, :mod:`plmtransfer.learn.stacking`); 0 when one model fits all columns.
    """

    metadata: pd.DataFrame
    features: np.ndarray
    stacked_columns: int = 0

    @property
    def target(self) -> np.ndarray:
        """The regression target as float64."""
        return self.metadata["target"].to_numpy(dtype=np.float64)


def warn(message: str) -> None:
    """Print a warning line on stderr (the CLIs' channel for recoverable problems)."""
    print(f"warning: {message}", file=sys.stderr)


def read_metadata(path: str | Path) -> pd.DataFrame:
    """Read a metadata CSV with ``ID`` and ``target``; IDs as strings; error on repeated IDs."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: metadata file not found")
    frame = pd.read_csv(path, dtype={"ID": str})
    missing = [column for column in ("ID", "target") if column not in frame.columns]
    if missing:
        raise UserError(f"{path}: metadata needs columns 'ID' and 'target'; missing {missing}")
    repeated = frame["ID"][frame["ID"].duplicated()].unique()
    if len(repeated):
        raise UserError(f"{path}: {len(repeated)} repeated ID(s) in the metadata, e.g. "
                        f"{list(repeated[:3])}; resolve them in data preparation (--duplicates)")
    return frame


def clean_targets(metadata: pd.DataFrame, source: str) -> pd.DataFrame:
    """Drop rows whose target is non-numeric or NaN (warning with the count); check what remains."""
    target = pd.to_numeric(metadata["target"], errors="coerce")
    usable = np.isfinite(target.to_numpy(dtype=np.float64))
    if not usable.all():
        warn(f"{source}: dropped {int((~usable).sum())} row(s) with a non-numeric or missing target")
    cleaned = metadata.loc[usable].copy()
    cleaned["target"] = target[usable].astype(np.float64)
    return cleaned


def feature_matrix(ids: Sequence[str], embeddings: Mapping[str, np.ndarray],
                   source: str, what: str = "embedding") -> np.ndarray:
    """Stack the vectors of ``ids`` into a matrix in the embeddings' dtype; check length and NaN."""
    vectors = [np.asarray(embeddings[label]) for label in ids]
    length = vectors[0].shape
    for label, vector in zip(ids, vectors, strict=True):
        if vector.ndim != 1 or vector.shape != length:
            raise UserError(f"{source}: {what} of ID {label!r} has shape {vector.shape}, "
                            f"others {length}; every vector needs the same length")
        if not np.issubdtype(vector.dtype, np.number):
            raise UserError(f"{source}: {what} of ID {label!r} is not numeric ({vector.dtype})")
    matrix = np.stack(vectors)
    if not np.issubdtype(matrix.dtype, np.floating):
        matrix = matrix.astype(np.float64)
    bad_rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(bad_rows):
        raise UserError(f"{source}: {what} of ID {ids[bad_rows[0]]!r} contains NaN or "
                        f"infinite values ({len(bad_rows)} such vector(s))")
    return matrix


def join(metadata: pd.DataFrame, embeddings: Mapping[str, np.ndarray], source: str,
         max_missing: float = 0.01, what: str = "embedding") -> Table:
    """Inner-join metadata and embeddings (or ``what``) on ``ID`` in metadata order; report missing IDs."""
    present = metadata["ID"].isin(embeddings.keys()).to_numpy()
    n_missing = int((~present).sum())
    if n_missing:
        fraction = n_missing / len(metadata)
        message = (f"{source}: {n_missing} of {len(metadata)} metadata ID(s) "
                   f"({fraction:.2%}) have no {what}, e.g. "
                   f"{list(metadata['ID'][~present][:3])}")
        if fraction > max_missing:
            raise UserError(f"{message}; more than --max-missing {max_missing:.2%}")
        warn(f"{message}; they are left out")
    joined = metadata.loc[present].reset_index(drop=True)
    if len(joined) == 0:
        raise UserError(f"{source}: no metadata ID has an {what}")
    return Table(joined, feature_matrix(list(joined["ID"]), embeddings, source, what))


def read_scores(path: str | Path) -> dict[str, np.ndarray]:
    """A zero-shot scores CSV (columns ``ID`` and ``score``) as ``{ID: [score]}``; IDs unique."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: scores file not found")
    frame = pd.read_csv(path, dtype={"ID": str})
    missing = [column for column in ("ID", SCORE_LABEL) if column not in frame.columns]
    if missing:
        raise UserError(f"{path}: a scores file needs columns 'ID' and 'score' (as zero_shot.py "
                        f"writes); missing {missing}")
    repeated = frame["ID"][frame["ID"].duplicated()].unique()
    if len(repeated):
        raise UserError(f"{path}: {len(repeated)} repeated ID(s) in the scores, e.g. {list(repeated[:3])}")
    values = pd.to_numeric(frame[SCORE_LABEL], errors="coerce").to_numpy(dtype=np.float64)
    return {identifier: values[row:row + 1] for row, identifier in enumerate(frame["ID"])}


def onehot_features(metadata: pd.DataFrame, source: str) -> dict[str, np.ndarray]:
    """``{ID: flat one-hot of its sequence}`` (20 x L values, residue after residue, float32)."""
    if "sequence" not in metadata.columns:
        raise UserError(f"{source}: --features onehot+score needs a 'sequence' column in the metadata")
    return {identifier: onehot_encode(str(sequence).upper()).ravel()
            for identifier, sequence in zip(metadata["ID"], metadata["sequence"], strict=True)}


def append_columns(table: Table, vectors: Mapping[str, np.ndarray], source: str, max_missing: float,
                   what: str, stacked: bool = False) -> Table:
    """``table`` with the columns of ``vectors`` (``{ID: vector}``) after its own, in the features' dtype.

    Rows join on ``ID`` with :func:`join`'s checks (missing IDs up to ``max_missing`` are left out
    with a warning; NaN and unequal lengths are errors); the rows keep ``table``'s order.
    ``stacked``: the new columns are the second first-level model's (``Table.stacked_columns``).
    """
    joined = join(table.metadata, vectors, source, max_missing, what=what)
    present = table.metadata["ID"].isin(vectors.keys()).to_numpy()
    features = table.features[present]
    added = joined.features.shape[1]
    return Table(joined.metadata, np.column_stack([features, joined.features.astype(features.dtype)]),
                 added if stacked else table.stacked_columns)


def read_feature_files(options) -> dict[str, dict[str, np.ndarray]]:
    """The feature files a regression adds to its input, ``{"append": ..., "stack": ...}`` (those given).

    ``options``: :class:`plmtransfer.options.RegressOptions`; each file is a compressed-embedding
    file (``{ID: vector}``), e.g. contact-map features of the same proteins.
    """
    from plmtransfer.io import load_compressed

    return {kind: load_compressed(path) for kind, path in (("append", options.append), ("stack", options.stack))
            if path is not None}


def append_score(table: Table, scores: Mapping[str, np.ndarray], source: str,
                 max_missing: float) -> Table:
    """``table`` with the zero-shot score as its last feature column (:func:`append_columns`)."""
    return append_columns(table, scores, source, max_missing, what="score")


