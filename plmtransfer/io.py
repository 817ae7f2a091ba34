"""File helpers shared by every stage: atomic writes and the compressed-embedding contract.

Every output is written to a temporary file in the destination directory and renamed
into place, so an interrupted run never leaves a half-written file under the final name.

Compressed embeddings (docs/contracts.md) are ``{label: 1-D float array}`` pickles
(``embed_layer_<L>_<method>.pkl``) or ``.npz`` files holding ``ids`` and a 2-D ``matrix``.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from plmtransfer.errors import UserError

TEMP_PREFIX = ".tmp-"


def _default_file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 minus the umask); mkstemp uses 0o600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


DEFAULT_FILE_MODE = _default_file_mode()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file lives in the same directory (so the rename is atomic on POSIX) and
    is removed if the block raises. Parent directories are created.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=final.suffix, dir=final.parent)
    os.close(handle)
    os.chmod(temporary, DEFAULT_FILE_MODE)
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.replace(temporary_path, final)
    finally:
        temporary_path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator:
    """Open a temporary file for writing that replaces ``path`` only when the block succeeds."""
    with atomic_path(path) as temporary, open(temporary, mode, **kwargs) as handle:
        yield handle


def write_dataframe_csv(frame, path: str | os.PathLike, index: bool = False) -> Path:
    """Write a pandas DataFrame as CSV atomically; return the path."""
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=index)
    return Path(path)


def save_compressed(vectors: Mapping[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Write ``{label: 1-D array}`` as ``.pkl`` (dict of numpy arrays) or ``.npz`` (ids + matrix).

    The format follows the file suffix. ``.npz`` needs vectors of equal length.
    """
    path = Path(path)
    if path.suffix == ".pkl":
        payload = {str(label): np.asarray(vector) for label, vector in vectors.items()}
        with atomic_open(path, "wb") as handle:
            pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)
    elif path.suffix == ".npz":
        labels = [str(label) for label in vectors]
        lengths = {np.asarray(vector).shape for vector in vectors.values()}
        if len(lengths) > 1:
            raise UserError(f"{path}: vectors of unequal shapes {sorted(lengths)} cannot form one matrix")
        matrix = np.stack([np.asarray(vectors[label]) for label in labels]) if labels else np.empty((0, 0))
        with atomic_open(path, "wb") as handle:
            np.savez(handle, ids=np.asarray(labels, dtype=str), matrix=matrix)
    else:
        raise UserError(f"{path}: unknown compressed-embedding format {path.suffix!r}; use .pkl or .npz")
    return path


def unique_labels(labels: np.ndarray, path: Path) -> np.ndarray:
    """Return ``labels`` as strings; error if any repeats (a dict would silently keep one)."""
    labels = np.asarray(labels).astype(str)
    values, counts = np.unique(labels, return_counts=True)
    repeated = values[counts > 1]
    if len(repeated):
        raise UserError(f"{path}: {len(repeated)} repeated ID(s) in the embeddings, e.g. "
                        f"{repeated[:3].tolist()}")
    return labels


def load_compressed(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read compressed embeddings written by :func:`save_compressed` (or by the study).

    Accepts ``.pkl`` (a dict ``{label: array}``; unpickling runs code, so only open files
    you trust, such as this pipeline's own outputs), ``.npz`` (``ids`` + ``matrix``, loaded
    without pickle), ``.pt`` (a dict of tensors, loaded with ``weights_only=True``) and
    ``.csv`` (first column ``ID``, one column per feature). Repeated IDs in an ``.npz`` or
    ``.csv`` are an error rather than silently collapsed.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: compressed-embedding file not found")
    suffix = path.suffix
    if suffix == ".pkl":
        with open(path, "rb") as handle:
            data = pickle.load(handle)
        if not isinstance(data, Mapping):
            raise UserError(f"{path}: expected a dict {{label: vector}}, found {type(data).__name__}")
        return {str(label): np.asarray(vector) for label, vector in data.items()}
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            if "ids" not in archive or "matrix" not in archive:
                raise UserError(f"{path}: an .npz of compressed embeddings needs arrays 'ids' and 'matrix'")
            return dict(zip(unique_labels(archive["ids"], path), archive["matrix"], strict=True))
    if suffix == ".pt":
        import torch

        data = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(data, Mapping):
            raise UserError(f"{path}: expected a dict {{label: tensor}}, found {type(data).__name__}")
        return {str(label): np.asarray(vector) for label, vector in data.items()}
    if suffix == ".csv":
        import pandas as pd

        frame = pd.read_csv(path)
        if frame.columns[0] != "ID":
            raise UserError(f"{path}: the first column of a CSV of embeddings must be 'ID'")
        values = frame.drop(columns="ID")
        return dict(zip(unique_labels(frame["ID"].to_numpy(), path), values.to_numpy(), strict=True))
    raise UserError(f"{path}: unknown compressed-embedding format {suffix!r}; use .pkl, .npz, .pt or .csv")
