"""The compression stage: a directory of fair-esm per-sequence ``.pt`` files -> one file per method.

Reads every ``<label>.pt`` of a directory once (``torch.load(..., weights_only=True)``),
compresses it with every requested method of the registry (:mod:`plmtransfer.embed.methods`),
equal-length proteins as one batch, over several processes, and writes
``embed_layer_<L>_<method>.pkl`` (or ``.npz``) per method atomically (``scripts/compress.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from plmtransfer import layout
from plmtransfer.embed.contacts import NEEDS_CONTACTS
from plmtransfer.embed.methods import (
    CONTACTS,
    EqualLengthCheck,
    check_methods,
    compress_batch,
    needed_extras,
    needs_bos,
    needs_contacts,
    needs_residues,
)
from plmtransfer.errors import UserError
from plmtransfer.io import save_compressed
from plmtransfer.options import CompressOptions

PER_TOKEN_ADVICE = "extract with --include per_tok (fair-esm extract.py / scripts/extract.py)"


def group_by_length(items: Mapping[str, np.ndarray]) -> dict[int, list[str]]:
    """Labels grouped by residue count, so each group can be compressed as one batch."""
    groups: dict[int, list[str]] = {}
    for label, residues in items.items():
        groups.setdefault(residues.shape[0], []).append(label)
    return groups


@dataclass
class ChunkResult:
    """Vectors of one chunk of files: ``{method: {label: vector}}`` plus each label's length."""

    vectors: dict[str, dict[str, np.ndarray]]
    lengths: dict[str, int]


def list_embedding_files(embed_dir: str | Path) -> list[Path]:
    """The ``.pt`` files of ``embed_dir`` sorted by name; a clear error if there are none."""
    embed_dir = Path(embed_dir)
    if not embed_dir.is_dir():
        raise UserError(f"{embed_dir}: embedding directory not found")
    paths = sorted(path for path in embed_dir.iterdir() if path.suffix == layout.PER_TOKEN_SUFFIX and path.is_file())
    if not paths:
        raise UserError(f"{embed_dir}: no .pt embedding files found (run the extract stage first)")
    return paths


def layer_tensor(data: Mapping, key: str, layer: int, path, advice: str) -> np.ndarray:
    """``data[key][layer]`` as a float32 numpy array, with clear errors for what can be missing."""
    import torch

    if key not in data or not isinstance(data[key], Mapping):
        raise UserError(f"{path}: no '{key}' in the file: {advice}")
    if layer not in data[key]:
        present = ", ".join(str(found) for found in sorted(data[key], key=str)) or "none"
        raise UserError(f"{path}: no layer {layer} in '{key}' (layers present: {present}); "
                        "pass one of them with -l")
    tensor = data[key][layer]
    if not isinstance(tensor, torch.Tensor) or not torch.is_floating_point(tensor):
        kind = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise UserError(f"{path}: '{key}'[{layer}] is {kind}, expected a floating-point tensor")
    array = tensor.detach().to(torch.float32).numpy()
    if not np.isfinite(array).all():
        raise UserError(f"{path}: '{key}'[{layer}] contains NaN or infinite values")
    return array


def contact_map(data: Mapping, path) -> np.ndarray:
    """The file's predicted contact map ``contacts`` (L x L) as float32, with clear errors for what can be missing."""
    import torch

    tensor = data.get(CONTACTS)
    if tensor is None:
        raise UserError(f"{path}: no 'contacts' in the file: {NEEDS_CONTACTS} (ESM models with contact weights)")
    if not isinstance(tensor, torch.Tensor) or not torch.is_floating_point(tensor) or tensor.ndim != 2 \
            or tensor.shape[0] != tensor.shape[1] or tensor.shape[0] == 0:
        kind = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise UserError(f"{path}: 'contacts' is {kind}, expected an L x L floating-point tensor")
    return tensor.detach().to(torch.float32).numpy()


@dataclass
class LoadedEmbedding:
    """What one per-sequence file gives the methods: residues, BOS (or None), extras (with ``contacts``)."""

    residues: np.ndarray
    bos: np.ndarray | None
    extras: dict[str, np.ndarray]


def load_embedding(path: Path, layer: int, methods: Sequence[str]) -> LoadedEmbedding:
    """Read one fair-esm ``.pt`` (weights_only=True): the L x D residues and, if needed, BOS and extras.

    Extras (e.g. UniRep's ``c_final``) are read from ``<name>_representations``, the contact map
    from ``contacts``. When only ``mean`` needs residues and the file has no per-residue
    representations, ``mean_representations`` stands in as a 1 x D matrix; when no method needs
    residues, zeros do (L x 1 with a contact map, so that proteins group by length; else 1 x D).
    """
    import torch

    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for corrupt or unsafe files
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise UserError(f"{path}: cannot be read as a fair-esm embedding file ({message})") from None
    if not isinstance(data, Mapping):
        raise UserError(f"{path}: expected a fair-esm dict with 'representations', "
                        f"found {type(data).__name__}")
    bos = None
    if needs_bos(methods):
        bos = layer_tensor(data, "bos_representations", layer, path, "extract with --include bos")
    extras = {name: layer_tensor(data, f"{name}_representations", layer, path,
                                 f"method(s) needing '{name}' work with models that provide it "
                                 "(UniRep), extracted with scripts/extract.py --include")
              for name in needed_extras(methods) if name != CONTACTS}
    if needs_contacts(methods):
        extras[CONTACTS] = contact_map(data, path)
    if not needs_residues(methods):
        if CONTACTS in extras:
            return LoadedEmbedding(np.zeros((extras[CONTACTS].shape[0], 1), dtype=np.float32), bos, extras)
        width = (bos if bos is not None else next(iter(extras.values()))).shape[0]
        return LoadedEmbedding(np.zeros((1, width), dtype=np.float32), bos, extras)
    if set(methods) <= {"mean", "bos", "c_final"} and "representations" not in data:
        mean = layer_tensor(data, "mean_representations", layer, path, "extract with --include mean")
        return LoadedEmbedding(mean[None, :], bos, extras)
    residues = layer_tensor(data, "representations", layer, path, PER_TOKEN_ADVICE)
    if residues.ndim != 2 or residues.shape[0] == 0:
        raise UserError(f"{path}: 'representations'[{layer}] has shape {tuple(residues.shape)}, "
                        "expected (residues, dimensions) with at least one residue")
    if CONTACTS in extras and extras[CONTACTS].shape[0] != residues.shape[0]:
        raise UserError(f"{path}: 'contacts' is {extras[CONTACTS].shape[0]} x {extras[CONTACTS].shape[0]} but "
                        f"'representations'[{layer}] has {residues.shape[0]} residues: {NEEDS_CONTACTS}")
    return LoadedEmbedding(residues, bos, extras)


def compress_files(paths: Sequence[Path], layer: int, methods: Sequence[str],
                   options: CompressOptions | None = None) -> ChunkResult:
    """Load each file once and compress it with every method; equal lengths go as one batch."""
    loaded, path_of = {}, {}
    for path in paths:
        loaded[path.stem] = load_embedding(path, layer, methods)
        path_of[path.stem] = path
    vectors: dict[str, dict[str, np.ndarray]] = {name: {} for name in methods}
    residues_by_label = {label: embedding.residues for label, embedding in loaded.items()}
    for labels in group_by_length(residues_by_label).values():
        residues = np.stack([loaded[label].residues for label in labels])
        bos = np.stack([loaded[label].bos for label in labels]) if needs_bos(methods) else None
        extras = {name: np.stack([loaded[label].extras[name] for label in labels])
                  for name in needed_extras(methods)}
        try:
            matrices = compress_batch(residues, bos, methods, options, extras)
        except UserError as error:
            first = path_of[labels[0]]
            where = first if len(labels) == 1 else f"{first} (and {len(labels) - 1} more files)"
            raise UserError(f"{where}: {error}") from None
        for name, matrix in matrices.items():
            vectors[name].update(zip(labels, matrix, strict=True))
    lengths = {label: residues.shape[0] for label, residues in residues_by_label.items()}
    return ChunkResult(vectors, lengths)


def _limit_worker_threads() -> None:
    """Pool initializer: one BLAS/torch thread per worker process, so workers do not oversubscribe."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)


def _compress_chunk(task: tuple) -> ChunkResult:
    """Pool entry point: unpack a task tuple for :func:`compress_files`."""
    return compress_files(*task)


def chunked(items: Sequence, size: int) -> list:
    """``items`` cut into consecutive lists of at most ``size``."""
    return [list(items[start:start + size]) for start in range(0, len(items), size)]


def iterate_chunks(tasks: list, jobs: int):
    """Yield :class:`ChunkResult` for each task in order, in-process or over ``jobs`` processes."""
    if jobs <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield _compress_chunk(task)
        return
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(min(jobs, len(tasks)),
                                                   initializer=_limit_worker_threads) as pool:
        yield from pool.imap(_compress_chunk, tasks)


def compress_directory(embed_dir: str | Path, out_dir: str | Path, methods: Sequence[str], layer: int,
                       file_format: str = "pkl", jobs: int = 1, chunk_size: int = 32,
                       options: CompressOptions | None = None, overwrite: bool = False,
                       quiet: bool = False) -> dict[str, Path]:
    """Compress every ``.pt`` of ``embed_dir`` with all ``methods``; write one file per method.

    Each file is read once for all methods. Only the pooled vectors are kept in memory (never
    all per-residue tensors), files are processed in chunks over ``jobs`` processes, and
    outputs are written atomically at the end, so an error leaves no partial output. Methods
    whose output exists are skipped unless ``overwrite``. Returns ``{method: path}`` of the
    files written.
    """
    methods = check_methods(methods)
    if file_format not in ("pkl", "npz"):
        raise UserError(f"unknown output format {file_format!r}: use pkl or npz")
    todo = [name for name in methods
            if overwrite or not layout.compressed_file(out_dir, layer, name, file_format).exists()]
    for name in methods:
        if name not in todo and not quiet:
            print(f"skipping {name}: {layout.compressed_file(out_dir, layer, name, file_format)} exists "
                  "(use --overwrite to recompute)")
    if not todo:
        return {}
    paths = list_embedding_files(embed_dir)
    tasks = [(chunk, layer, todo, options) for chunk in chunked(paths, max(1, chunk_size))]
    collected: dict[str, dict[str, np.ndarray]] = {name: {} for name in todo}
    flat_check = EqualLengthCheck() if "flat" in todo else None
    with tqdm(total=len(paths), unit="file", desc="compress", disable=quiet) as bar:
        for result in iterate_chunks(tasks, jobs):
            if flat_check is not None:
                for label, length in result.lengths.items():
                    flat_check.add(label, length)
            for name, vectors in result.vectors.items():
                collected[name].update(vectors)
            bar.update(len(result.lengths))
    return {name: save_compressed(collected[name], layout.compressed_file(out_dir, layer, name, file_format))
            for name in todo}
