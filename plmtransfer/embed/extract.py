"""The extraction stage: FASTA -> per-sequence pLM embeddings (fair-esm ``extract.py`` drop-in).

Outputs, in ``output_dir``:

- ``<label>.pt`` per sequence (``--include``): fair-esm's dict ``label``, ``representations``
  ``{layer: L x D}``, ``mean_representations``, ``bos_representations``, ``contacts``, and
  ``attentions`` (float16 ``layers x heads x L x L``, or ``layers x L x L`` with
  ``--attention_heads mean``) with ``attention_layers`` (the layers of its first axis);
- ``embed_layer_<L>_<method>.pkl`` (or ``.npz``) per layer and method (``--pool``): the
  compressed-embedding contract, computed on the fly with :mod:`plmtransfer.embed.methods`, so no
  per-token file is ever written;
- ``labels.tsv`` (label -> file name) when a FASTA header is not a safe file name.

This module is orchestration only: records, token-budget batches (sequences sorted by
length), resume, shards and outputs. The model is a featuriser from :mod:`plmtransfer.backends`
(:class:`~plmtransfer.backends.base.Featuriser`), chosen by the model registry.

Safety: every file is written under a temporary name and renamed. Pooled vectors are first
written per batch to ``.extract-work-<hash>/part-*.pt`` and gathered into the final files at
the end, so a run killed at any moment resumes where it stopped and gives the same files.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import shutil
import sys
import time
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from plmtransfer import layout
from plmtransfer.backends import load_featuriser
from plmtransfer.backends.base import AttentionFeaturiser, Embedded, LoadOptions
from plmtransfer.data.sequences import Record
from plmtransfer.embed.methods import (
    CONTACTS,
    METHODS,
    check_dimension,
    compress_protein,
    needed_extras,
    needs_contacts,
)
from plmtransfer.embed.request import (
    Request,
    check_request,
    label_file_stem,  # noqa: F401  (re-exported: extract.label_file_stem)
)
from plmtransfer.errors import UserError
from plmtransfer.io import TEMP_PREFIX, atomic_open, atomic_path, load_compressed, save_compressed
from plmtransfer.options import (
    ALL_LAYERS,
    ExtractOptions,
    parse_shard,  # noqa: F401  (re-exported: extract.parse_shard)
)

WORK_PREFIX = ".extract-work-"
# --include choices written as {layer: tensor} dicts, and their keys in a per-sequence file (fair-esm's)
PER_SEQUENCE_KEYS = {"per_tok": "representations", "mean": "mean_representations", "bos": "bos_representations"}


# ----------------------------------------------------------------------------- options


@dataclass
class ExtractSummary:
    """What a run did: counts for the caller and the tests.

    ``completed``: existing per-sequence files that lacked what this run asks, computed again
    (they are part of ``computed``).
    """

    sequences: int = 0
    computed: int = 0
    skipped: int = 0
    completed: int = 0
    truncated: int = 0
    tokens: int = 0
    seconds: float = 0.0
    pooled_files: list[Path] = field(default_factory=list)


# ----------------------------------------------------------------------------- records


def shard_records(records: Sequence[Record], shard: tuple[int, int]) -> list[Record]:
    """The deterministic K-th of N shares of ``records``: every N-th record from the K-th."""
    k, n = shard
    return [record for index, record in enumerate(records) if index % n == k - 1]


# ----------------------------------------------------------------------------- layers and checks


def resolve_layers(repr_layers: Sequence[int | str], num_layers: int, model_name: str) -> list[int]:
    """Turn fair-esm layer indices (negative count from the end) into sorted layer numbers.

    ``all`` (:data:`plmtransfer.options.ALL_LAYERS`) stands for every layer, 0 (the token embedding)
    to ``num_layers``: one forward pass gives them all.
    """
    if ALL_LAYERS in repr_layers:
        return list(range(num_layers + 1))
    bad = [i for i in repr_layers if not -(num_layers + 1) <= i <= num_layers]
    if bad:
        raise UserError(f"--repr_layers {' '.join(map(str, bad))}: model {model_name} has layers "
                        f"0..{num_layers} (negative values count from the end: -1 = {num_layers})")
    return sorted({(i + num_layers + 1) % (num_layers + 1) for i in repr_layers})


def check_featuriser(featuriser, options: ExtractOptions, layers: Sequence[int] = ()) -> None:
    """Reject requests this featuriser cannot serve (a BOS vector or extras it lacks, contacts
    without weights, methods wider than a layer)."""
    for layer in layers:
        check_dimension(options.pool, featuriser.layer_dim(layer), f"layer {layer} of {featuriser.name}")
    needs_bos = "bos" in options.include or any(METHODS[m].needs_bos for m in options.pool)
    if needs_bos and not featuriser.has_bos:
        users = [m for m in options.pool if METHODS[m].needs_bos] + (["bos"] if "bos" in options.include else [])
        raise UserError(f"model {featuriser.name} has no BOS token: drop {', '.join(dict.fromkeys(users))} "
                        "from --include/--pool")
    missing = [extra for extra in needed_extras(options.pool) if extra not in featuriser.extras and extra != CONTACTS]
    if missing:
        users = [m for m in options.pool if set(METHODS[m].needs_extras) & set(missing)]
        raise UserError(f"model {featuriser.name} does not provide {', '.join(missing)}: drop "
                        f"{', '.join(users)} from --pool (UniRep models provide c_final)")
    if ("contacts" in options.include or needs_contacts(options.pool)) and not featuriser.has_contacts:
        raise UserError(f"model {featuriser.name} has no contact-regression weights "
                        "(<name>-contact-regression.pt beside the checkpoint): drop 'contacts' and the "
                        "contact_* methods")
    if "attentions" in options.include:
        if not isinstance(featuriser, AttentionFeaturiser):
            raise UserError(f"model {featuriser.name} gives no attention maps (the fair-esm and Hugging "
                            "Face ESM backends do): drop 'attentions' from --include")
        if not attention_layers(layers, options):
            raise UserError("--include attentions: layer 0 is the embedding, which has no attention; "
                            "add a layer >= 1 to --repr_layers")


def attention_layers(layers: Sequence[int], options: ExtractOptions) -> list[int]:
    """The layers whose attention maps are written: the requested layers >= 1 (0 has none)."""
    return [layer for layer in layers if layer >= 1] if "attentions" in options.include else []


# ----------------------------------------------------------------------------- batching


@dataclass(frozen=True)
class Piece:
    """A window of one record's sequence that goes through the model as one input."""

    record: int
    start: int
    sequence: str


def split_pieces(index: int, sequence: str, limit: int | None, long: str,
                 overlap: int) -> list[Piece]:
    """One piece (possibly truncated) or, with ``chunk``, overlapping windows of <= ``limit``."""
    if limit is None or len(sequence) <= limit:
        return [Piece(index, 0, sequence)]
    if long == "truncate":
        return [Piece(index, 0, sequence[:limit])]
    stride = limit - overlap
    count = math.ceil((len(sequence) - limit) / stride) + 1
    starts = sorted({min(i * stride, len(sequence) - limit) for i in range(count)})
    return [Piece(index, start, sequence[start:start + limit]) for start in starts]


def token_batches(pieces: Sequence[Piece], toks_per_batch: int, special_positions: int) -> list[list[Piece]]:
    """Length-sorted batches whose padded size (longest + specials) x count fits ``toks_per_batch``."""
    ordered = sorted(pieces, key=lambda piece: (len(piece.sequence), piece.record, piece.start))
    batches: list[list[Piece]] = []
    current: list[Piece] = []
    longest = 0
    for piece in ordered:
        size = len(piece.sequence) + special_positions
        if current and max(size, longest) * (len(current) + 1) > toks_per_batch:
            batches.append(current)
            current, longest = [], 0
        current.append(piece)
        longest = max(longest, size)
    if current:
        batches.append(current)
    return batches


def embed_with_retry(featuriser, pieces: Sequence[Piece], layers, contacts: bool,
                     maps: Sequence[int] = ()) -> list[Embedded]:
    """Embed a batch (with the attention maps of layers ``maps``, if any); on CUDA
    out-of-memory split it in halves and retry."""
    sequences = [piece.sequence for piece in pieces]
    try:
        if maps:  # only an AttentionFeaturiser takes attention_layers (check_featuriser)
            return featuriser.embed(sequences, layers, contacts, attention_layers=maps)
        return featuriser.embed(sequences, layers, contacts)
    except torch.OutOfMemoryError:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if len(pieces) == 1:
            raise UserError(f"out of GPU memory on one sequence of {len(pieces[0].sequence)} "
                            "residues: use --long chunk, a smaller --truncation_seq_length, "
                            "--dtype bfloat16 or --nogpu") from None
        half = len(pieces) // 2
        return (embed_with_retry(featuriser, pieces[:half], layers, contacts, maps)
                + embed_with_retry(featuriser, pieces[half:], layers, contacts, maps))


class Stitcher:
    """Collects the pieces of each record; averages overlapping windows into one embedding."""

    def __init__(self, records: Sequence[Record], piece_counts: dict[int, int]):
        self.records = records
        self.remaining = dict(piece_counts)
        self.parts: dict[int, list[tuple[Piece, Embedded]]] = {}

    def add(self, piece: Piece, embedded: Embedded) -> tuple[int, Embedded] | None:
        """Register one piece; return ``(record, embedding)`` once all its pieces arrived."""
        if self.remaining[piece.record] == 1 and piece.record not in self.parts:
            del self.remaining[piece.record]
            return piece.record, embedded
        self.parts.setdefault(piece.record, []).append((piece, embedded))
        self.remaining[piece.record] -= 1
        if self.remaining[piece.record]:
            return None
        del self.remaining[piece.record]
        return piece.record, self.stitch(piece.record, self.parts.pop(piece.record))

    def stitch(self, record: int, parts: list[tuple[Piece, Embedded]]) -> Embedded:
        """Average per-residue rows over overlapping windows; BOS = mean of the windows' BOS."""
        length = len(self.records[record].sequence)
        counts = torch.zeros(length, 1)
        for piece, _ in parts:
            counts[piece.start:piece.start + len(piece.sequence)] += 1
        representations, bos = {}, {}
        for layer, first in parts[0][1].representations.items():
            total = torch.zeros(length, first.shape[1])
            for piece, embedded in parts:
                total[piece.start:piece.start + len(piece.sequence)] += embedded.representations[layer]
            representations[layer] = total / counts
            if parts[0][1].bos is not None:
                bos[layer] = torch.stack([embedded.bos[layer] for _, embedded in parts]).mean(0)
        return Embedded(representations, bos or None)


# ----------------------------------------------------------------------------- outputs


def per_sequence_result(label: str, embedded: Embedded, include: Sequence[str],
                        attention_heads: str = "all") -> dict:
    """fair-esm's per-sequence dict with the keys ``include`` asks for, plus the backend's extras.

    Each extra (e.g. UniRep's ``c_final``) is written as ``<name>_representations`` ``{layer: D}``.
    ``attentions`` is one float16 tensor, ``layers x heads x L x L`` (``attention_heads="all"``)
    or ``layers x L x L`` (``"mean"``: the heads' mean, taken in float32), its layers listed in
    ``attention_layers``.
    """
    result: dict = {"label": label}
    for name, vectors in embedded.extras.items():
        result[f"{name}_representations"] = dict(vectors)
    if "per_tok" in include:
        result["representations"] = dict(embedded.representations)
    if "mean" in include:
        result["mean_representations"] = {layer: t.mean(0) for layer, t in embedded.representations.items()}
    if "bos" in include:
        result["bos_representations"] = dict(embedded.bos)
    if "contacts" in include:
        result["contacts"] = embedded.contacts
    if "attentions" in include:
        layers = sorted(embedded.attentions)
        maps = torch.stack([embedded.attentions[layer] for layer in layers])
        result["attentions"] = (maps.mean(1) if attention_heads == "mean" else maps).to(torch.float16)
        result["attention_layers"] = layers
    return result


def with_earlier_content(path: Path, result: dict) -> dict:
    """``result`` plus what the existing file at ``path`` holds beyond it (other keys, other layers).

    A re-run that asks for more (``--include``, ``--repr_layers``) thus adds to a file instead of
    dropping what an earlier run wrote; ``result`` wins where both hold a value.
    """
    try:
        earlier = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # unreadable: nothing to keep
        return result
    if not isinstance(earlier, dict):
        return result
    merged = dict(result)
    for key, value in earlier.items():
        if key not in merged:
            merged[key] = value
        elif isinstance(value, dict) and isinstance(merged[key], dict):
            merged[key] = {**value, **merged[key]}
    return merged


def missing_content(path: Path, options: ExtractOptions, layers: Sequence[int]) -> list[str]:
    """What ``--include`` asks for at ``layers`` that the existing per-sequence file ``path`` lacks.

    Reads the file memory-mapped (``weights_only``), so only its keys and shapes are read. An
    unreadable file lacks everything. Returns e.g. ``["per_tok (layer 6)"]``; empty when complete.
    """
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # corrupt, truncated or not a torch file: compute it again
        return ["a readable file"]
    if not isinstance(data, dict):
        return ["a fair-esm dict"]
    missing = []
    for name in options.include:
        if name in PER_SEQUENCE_KEYS:
            held = data.get(PER_SEQUENCE_KEYS[name])
            absent = [layer for layer in layers if not isinstance(held, dict) or layer not in held]
            if absent:
                missing.append(f"{name} (layer {' '.join(map(str, absent))})")
        elif name == "contacts" and "contacts" not in data:
            missing.append("contacts")
        elif name == "attentions" and not has_attentions(data, attention_layers(layers, options), options):
            missing.append(f"attentions ({options.attention_heads} heads, layers "
                           f"{' '.join(map(str, attention_layers(layers, options)))})")
    return missing


def has_attentions(data: dict, layers: Sequence[int], options: ExtractOptions) -> bool:
    """True when ``data`` holds the attention maps of ``layers`` in the ``--attention_heads`` form asked."""
    maps = data.get("attentions")
    if not isinstance(maps, torch.Tensor) or not set(layers) <= set(data.get("attention_layers") or ()):
        return False
    return maps.ndim == (3 if options.attention_heads == "mean" else 4)


def pooled_vectors(embedded: Embedded, methods: Sequence[str]) -> dict[str, torch.Tensor]:
    """``{"<layer>/<method>": vector}`` from the shared compression registry."""
    vectors = {}
    for layer, residues in embedded.representations.items():
        bos = embedded.bos[layer].numpy() if embedded.bos is not None else None
        extras = {name: by_layer[layer].numpy() for name, by_layer in embedded.extras.items()
                  if layer in by_layer}
        if embedded.contacts is not None:
            extras[CONTACTS] = embedded.contacts.numpy()
        for method, vector in compress_protein(residues.numpy(), bos, methods, extras=extras).items():
            vectors[f"{layer}/{method}"] = torch.as_tensor(np.asarray(vector))
    return vectors


def work_dir_for(output_dir: Path, featuriser, layers, options: ExtractOptions) -> Path:
    """Hidden folder for partial pooled results; its name hashes every setting that changes them."""
    settings = {
        "model": featuriser.name,
        "checkpoint": featuriser.identity,
        "layers": list(layers), "methods": list(options.pool), "long": options.long,
        "truncation": options.truncation_seq_length, "overlap": options.chunk_overlap,
        "dtype": options.dtype,
    }
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    return output_dir / f"{WORK_PREFIX}{digest}"


def read_parts(work_dir: Path) -> dict[str, dict[str, torch.Tensor]]:
    """All completed partial results: ``{label: {"<layer>/<method>": vector}}``."""
    done: dict[str, dict[str, torch.Tensor]] = {}
    if not work_dir.is_dir():
        return done
    for part in sorted(work_dir.glob("part-*.pt")):
        data = torch.load(part, map_location="cpu", weights_only=True)
        for label, vectors in zip(data["labels"], data["vectors"], strict=True):
            done.setdefault(label, vectors)
    return done


def write_part(work_dir: Path, labels: list[str], vectors: list[dict[str, torch.Tensor]]) -> None:
    """Atomically write one batch's pooled vectors as a partial file."""
    name = f"part-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.pt"
    with atomic_path(work_dir / name) as temporary:
        torch.save({"labels": labels, "vectors": vectors}, temporary)


def pooled_files_complete(paths: Sequence[Path], labels: Sequence[str]) -> bool:
    """True when every pooled file exists and holds every label."""
    if not all(path.is_file() for path in paths):
        return False
    wanted = set(labels)
    return all(wanted <= set(load_compressed(path)) for path in paths)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory/.lock`` (shards gather one at a time)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def gather_pooled(records: Sequence[Record], work_dir: Path, paths: dict[tuple[int, str], Path]) -> bool:
    """Write the final pooled files once every record is done; remove the work folder.

    Returns False when other shards still have records to do.
    """
    labels = [record.label for record in records]
    with locked(work_dir):
        if not pooled_files_complete(list(paths.values()), labels):
            done = read_parts(work_dir)
            if any(label not in done for label in labels):
                return False
            for (layer, method), path in paths.items():
                key = f"{layer}/{method}"
                save_compressed({label: done[label][key].numpy() for label in labels}, path)
        shutil.rmtree(work_dir, ignore_errors=True)
    return True


def write_labels_file(output_dir: Path, stems: dict[str, str]) -> None:
    """Record ``label<TAB>file`` when some label is not its own file name."""
    if all(label == stem for label, stem in stems.items()):
        return
    with atomic_open(output_dir / layout.LABELS_FILE, "w", encoding="utf-8") as handle:
        handle.write("label\tfile\n")
        for label, stem in stems.items():
            escaped = label.replace("\\", "\\\\").replace("\t", "\\t")
            handle.write(f"{escaped}\t{stem}.pt\n")


def remove_stale_temporaries(output_dir: Path) -> None:
    """Delete temporary files left by a killed run (only safe when no other shard runs)."""
    for stale in output_dir.glob(f"{TEMP_PREFIX}*"):
        stale.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- the run


@dataclass
class Plan:
    """What one run will do: records to compute (``incomplete`` of them to complete existing files),
    pieces, the pooled-file bookkeeping."""

    todo: list[Record]
    incomplete: int
    pieces: list[Piece]
    truncated: int
    work_dir: Path | None
    pooled: dict[tuple[int, str], Path]


def make_plan(records, share, output_dir, stems, featuriser, layers, options) -> Plan:
    """Decide which records still need work (resume) and split them into pieces.

    A record is done when its per-sequence file holds everything ``--include`` asks at ``layers``
    (each existing file is checked, see :func:`missing_content`) and its pooled vectors exist for
    every requested layer and method.
    """
    pooled = {(layer, method): layout.compressed_file(output_dir, layer, method, options.format)
              for layer in layers for method in options.pool}
    work_dir = work_dir_for(output_dir, featuriser, layers, options) if options.pool else None
    if options.overwrite and work_dir is not None:
        shutil.rmtree(work_dir, ignore_errors=True)
        for path in pooled.values():
            path.unlink(missing_ok=True)
    pooled_done: set[str] = set()
    if work_dir is not None and not options.overwrite:
        if pooled_files_complete(list(pooled.values()), [record.label for record in records]):
            pooled_done = {record.label for record in records}
        else:
            pooled_done = set(read_parts(work_dir))

    incomplete: list[str] = []

    def needs_work(record: Record) -> bool:
        if options.overwrite:
            return True
        if options.include:
            path = layout.per_token_file(output_dir, stems[record.label])
            if not path.is_file():
                return True
            if missing_content(path, options, layers):
                incomplete.append(record.label)
                return True
        return bool(options.pool) and record.label not in pooled_done

    todo = [record for record in share if needs_work(record)]
    limit = featuriser.max_residues
    if limit is not None:
        limit = min(limit, options.truncation_seq_length)
    pieces = [piece for index, record in enumerate(todo)
              for piece in split_pieces(index, record.sequence, limit, options.long,
                                        options.chunk_overlap)]
    truncated = sum(limit is not None and len(record.sequence) > limit for record in todo)
    return Plan(todo, len(incomplete), pieces, truncated if options.long == "truncate" else 0, work_dir, pooled)


def progress_bar(total_tokens: int, quiet: bool):
    """A tqdm bar counting tokens, with sequences per second in the postfix."""
    from tqdm.auto import tqdm

    return tqdm(total=total_tokens, unit="tok", unit_scale=True, disable=quiet,
                desc="extract", file=sys.stderr, dynamic_ncols=True)


def run_extraction(model_location: str, fasta_file: str | os.PathLike,
                   output_dir: str | os.PathLike, options: ExtractOptions) -> ExtractSummary:
    """Extract embeddings of every sequence of ``fasta_file`` into ``output_dir``.

    All input checks (flags, model name, FASTA, then the loaded model's layers) happen before
    anything is written.
    """
    return run_request(check_request(model_location, fasta_file, options), output_dir)


def run_request(request: Request, output_dir: str | os.PathLike) -> ExtractSummary:
    """Load the model of a checked :class:`~plmtransfer.embed.request.Request` and run it into ``output_dir``."""
    options, records, stems = request.options, request.records, request.stems
    featuriser = load_featuriser(request.model_location, LoadOptions(nogpu=options.nogpu, dtype=options.dtype))
    layers = resolve_layers(options.repr_layers, featuriser.num_layers, featuriser.name)
    check_featuriser(featuriser, options, layers)

    output_dir = Path(output_dir)
    share = shard_records(records, options.shard)
    plan = make_plan(records, share, output_dir, stems, featuriser, layers, options)
    summary = ExtractSummary(sequences=len(share), skipped=len(share) - len(plan.todo),
                             completed=plan.incomplete, truncated=plan.truncated)
    output_dir.mkdir(parents=True, exist_ok=True)
    if options.shard[1] == 1:
        remove_stale_temporaries(output_dir)
    if options.include:
        write_labels_file(output_dir, stems)
    if plan.truncated:
        warnings.warn(f"{plan.truncated} sequence(s) longer than {options.truncation_seq_length} "
                      "residues were truncated (use --long chunk to embed them whole)", stacklevel=2)
    started = time.perf_counter()
    compute(plan, featuriser, layers, output_dir, stems, options, summary)
    summary.seconds = time.perf_counter() - started
    if options.pool and gather_pooled(records, plan.work_dir, plan.pooled):
        summary.pooled_files = list(plan.pooled.values())
    return summary


def compute(plan: Plan, featuriser, layers, output_dir: Path, stems, options, summary) -> None:
    """Run the batches of ``plan``; write per-sequence files and partial pooled files."""
    contacts = "contacts" in options.include or needs_contacts(options.pool)
    maps = attention_layers(layers, options)
    counts: dict[int, int] = {}
    for piece in plan.pieces:
        counts[piece.record] = counts.get(piece.record, 0) + 1
    stitcher = Stitcher(plan.todo, counts)
    specials = featuriser.special_positions
    total_tokens = sum(len(piece.sequence) + specials for piece in plan.pieces)
    started = time.perf_counter()
    with progress_bar(total_tokens, options.quiet) as bar:
        for batch in token_batches(plan.pieces, options.toks_per_batch or featuriser.toks_per_batch, specials):
            finished = []
            for piece, embedded in zip(batch, embed_with_retry(featuriser, batch, layers, contacts, maps),
                                       strict=True):
                done = stitcher.add(piece, embedded)
                if done is not None:
                    finished.append(done)
            write_outputs(finished, plan, output_dir, stems, options)
            summary.computed += len(finished)
            tokens = sum(len(piece.sequence) + specials for piece in batch)
            summary.tokens += tokens
            bar.update(tokens)
            bar.set_postfix(seqs_per_s=f"{summary.computed / (time.perf_counter() - started):.1f}")


def write_outputs(finished, plan: Plan, output_dir: Path, stems, options) -> None:
    """Per-sequence ``.pt`` files (``--include``) and one partial pooled file (``--pool``)."""
    labels, vectors = [], []
    for index, embedded in finished:
        label = plan.todo[index].label
        if options.include:
            path = layout.per_token_file(output_dir, stems[label])
            result = per_sequence_result(label, embedded, options.include, options.attention_heads)
            if path.is_file() and not options.overwrite:
                result = with_earlier_content(path, result)
            with atomic_path(path) as temporary:
                torch.save(result, temporary)
        if options.pool:
            labels.append(label)
            vectors.append(pooled_vectors(embedded, options.pool))
    if labels:
        write_part(plan.work_dir, labels, vectors)
