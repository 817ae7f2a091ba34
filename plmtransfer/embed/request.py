"""An extraction request checked before the model loads: flags, model name, FASTA, file names.

Everything here is light (no torch), so ``scripts/extract.py`` reports a bad flag, an unknown
model (with a "did you mean" for near misses) or a bad FASTA at once; the extraction stage
(:mod:`plmtransfer.embed.extract`) runs a :class:`Request` once the model is loaded.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from plmtransfer.backends import resolve_backend
from plmtransfer.data.sequences import Record, duplicate_labels, read_fasta
from plmtransfer.embed.methods import check_methods, needs_contacts
from plmtransfer.errors import UserError, did_you_mean
from plmtransfer.options import (
    ATTENTION_HEAD_CHOICES,
    DTYPE_NAMES,
    FORMAT_CHOICES,
    INCLUDE_CHOICES,
    LONG_CHOICES,
    ExtractOptions,
)
from plmtransfer.registry import registered_models

SAFE_LABEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:+=,@-]*")
MAX_NAME_CHARS = 150


@dataclass(frozen=True)
class Request:
    """A checked request: the model location, the options, the FASTA's records and their file stems."""

    model_location: str
    options: ExtractOptions
    records: list[Record]
    stems: dict[str, str]


def check_request(model_location: str, fasta_file: str | os.PathLike, options: ExtractOptions) -> Request:
    """Check the flags, the model name and the FASTA (in that order); read the records.

    Raises :class:`UserError` with one line for the first problem found; loads no model.
    """
    check_options(options)
    check_model_location(model_location)
    records = load_records(fasta_file, options.dedupe)
    return Request(model_location, options, records, label_file_stems(records, fasta_file))


def check_options(options: ExtractOptions) -> None:
    """Reject flag combinations that cannot work, before anything is loaded or written."""
    if not options.include and not options.pool:
        raise UserError(f"nothing to extract: give --include ({' '.join(INCLUDE_CHOICES)}) and/or --pool")
    unknown = sorted(set(options.include) - set(INCLUDE_CHOICES))
    if unknown:
        raise UserError(f"--include {' '.join(unknown)}: use {', '.join(INCLUDE_CHOICES)}")
    if options.long not in LONG_CHOICES:
        raise UserError(f"--long {options.long}: use one of {', '.join(LONG_CHOICES)}")
    if options.format not in FORMAT_CHOICES:
        raise UserError(f"--format {options.format}: use one of {', '.join(FORMAT_CHOICES)}")
    if options.attention_heads not in ATTENTION_HEAD_CHOICES:
        raise UserError(f"--attention_heads {options.attention_heads}: use one of "
                        f"{', '.join(ATTENTION_HEAD_CHOICES)}")
    if options.dtype not in DTYPE_NAMES:
        raise UserError(f"--dtype {options.dtype}: use one of {', '.join(DTYPE_NAMES)}")
    if options.overwrite and options.shard[1] > 1:
        raise UserError("--overwrite cannot be combined with --shard (shards would delete each "
                        "other's work): delete the output directory before starting the shards")
    if (options.toks_per_batch is not None and options.toks_per_batch < 1) or options.truncation_seq_length < 1:
        raise UserError("--toks_per_batch and --truncation_seq_length must be positive")
    if options.long == "chunk":
        for maps in ("contacts", "attentions"):
            if maps in options.include:
                raise UserError(f"--include {maps} cannot be combined with --long chunk "
                                "(maps of stitched windows are not defined)")
        if needs_contacts(check_methods(options.pool)):
            raise UserError("--pool contact_* cannot be combined with --long chunk "
                            "(contact maps of stitched windows are not defined)")
        if not 0 <= options.chunk_overlap < options.truncation_seq_length:
            raise UserError("--chunk_overlap must be >= 0 and smaller than --truncation_seq_length")
    check_methods(options.pool)


def check_model_location(location: str) -> None:
    """Error unless a backend serves ``location`` (registry rules of :func:`plmtransfer.backends.resolve_backend`).

    A near miss of a registered name (``esm2_650m``) gets a "did you mean" (``esm2_650M``).
    """
    try:
        resolve_backend(location)
    except UserError as error:
        hint = did_you_mean(location, [name for spec in registered_models() for name in spec.names])
        if hint:
            raise UserError(f"{error}; {hint}") from None
        raise


def load_records(fasta_file: str | os.PathLike, dedupe: bool) -> list[Record]:
    """Read and validate the FASTA; duplicate labels are an error (``dedupe`` drops exact copies)."""
    records = read_fasta(fasta_file)
    duplicates = duplicate_labels(records)
    if not duplicates:
        return records
    first_sequence: dict[str, str] = {}
    kept: list[Record] = []
    conflicting: list[str] = []
    for record in records:
        if record.label not in first_sequence:
            first_sequence[record.label] = record.sequence
            kept.append(record)
        elif record.sequence != first_sequence[record.label]:
            conflicting.append(record.label)
    if not dedupe or conflicting:
        names = sorted(set(conflicting) if dedupe else duplicates)
        shown = ", ".join(repr(name) for name in names[:5]) + (" ..." if len(names) > 5 else "")
        reason = ("with different sequences; rename them" if dedupe else
                  "; rename them, or pass --dedupe to keep the first of identical copies")
        raise UserError(f"{fasta_file}: {len(names)} duplicate label(s) {shown} {reason}")
    return kept


def label_file_stem(label: str) -> str:
    """A file-name stem for ``label`` that cannot escape the output directory.

    Safe labels (letters, digits and ``._:+=,@-``, not starting with ``.``, short) are kept
    as they are, like fair-esm; others get unsafe characters replaced by ``_`` and a hash of
    the full label appended so that different labels never share a file.
    """
    if SAFE_LABEL.fullmatch(label) and len(label) <= MAX_NAME_CHARS:
        return label
    cleaned = re.sub(r"[^A-Za-z0-9._:+=,@-]", "_", label)[:MAX_NAME_CHARS].lstrip(".") or "seq"
    digest = hashlib.sha1(label.encode("utf-8")).hexdigest()[:12]
    return f"{cleaned}-{digest}"


def label_file_stems(records: Sequence[Record], fasta_file) -> dict[str, str]:
    """Map every label to its file stem; error if two labels would share a file."""
    stems = {record.label: label_file_stem(record.label) for record in records}
    seen: dict[str, str] = {}
    for label, stem in stems.items():
        key = stem.lower()
        if key in seen:
            raise UserError(f"{fasta_file}: labels {seen[key]!r} and {label!r} map to the same "
                            f"file name {stem!r} (names must differ beyond letter case)")
        seen[key] = label
    return stems
