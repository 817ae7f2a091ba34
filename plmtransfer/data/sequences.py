"""Reading and validating protein sequences: the one FASTA reader and writer of the pipeline.

Rules, applied everywhere a sequence enters the pipeline:

- lower-case letters are upper-cased;
- the 20 standard amino acids and IUPAC's extra letters
  (``X`` unknown, ``B`` Asx, ``Z`` Glx, ``U`` selenocysteine, ``O`` pyrrolysine) are accepted;
- anything else is an error naming the file, the record and the offending characters; in
  particular ``*`` (stop) and ``-`` (alignment gap) are rejected rather than silently kept,
  because they are not amino acids of the protein and change its embedding.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from plmtransfer.errors import UserError
from plmtransfer.io import atomic_open

STANDARD_AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
# IUPAC: unknown (X), ambiguous (B Asx, Z Glx), rare (U Sec, O Pyl); each featuriser says what it does with them.
EXTRA_LETTERS = "XBZUO"
ALLOWED_LETTERS = frozenset(STANDARD_AMINO_ACIDS + EXTRA_LETTERS)


class Record(NamedTuple):
    """One FASTA record: the header (without ``>``) and its upper-case sequence."""

    label: str
    sequence: str


ONEHOT_DIM = len(STANDARD_AMINO_ACIDS)
_ONEHOT_INDEX = np.full(256, -1, dtype=np.int64)
_ONEHOT_INDEX[np.frombuffer(STANDARD_AMINO_ACIDS.encode("ascii"), dtype=np.uint8)] = np.arange(ONEHOT_DIM)


def onehot_encode(sequence: str) -> np.ndarray:
    """The L x 20 float32 one-hot matrix of an upper-case ``sequence`` (columns in ``STANDARD_AMINO_ACIDS``
    order; the extra letters X B Z U O give an all-zero row). Here, without torch, because the
    regression stage builds one-hot features itself (``--features onehot+score``) and the
    ``onehot`` featuriser wraps it."""
    codes = _ONEHOT_INDEX[np.frombuffer(sequence.encode("ascii"), dtype=np.uint8)]
    encoding = np.zeros((len(sequence), ONEHOT_DIM), dtype=np.float32)
    known = codes >= 0
    encoding[np.flatnonzero(known), codes[known]] = 1.0
    return encoding


def open_text(path: str | os.PathLike):
    """Open a text file for reading, transparently decompressing ``.gz``."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def invalid_letters(sequence: str) -> str:
    """Return the sorted distinct characters of ``sequence`` outside the accepted alphabet."""
    return "".join(sorted(set(sequence) - ALLOWED_LETTERS))


def check_sequence(sequence: str, where: str) -> str:
    """Upper-case ``sequence`` and raise :class:`UserError` (mentioning ``where``) if invalid."""
    sequence = sequence.strip().upper()
    if not sequence:
        raise UserError(f"{where}: empty sequence")
    bad = invalid_letters(sequence)
    if bad:
        raise UserError(
            f"{where}: characters {bad!r} are not amino acids "
            f"(allowed: {STANDARD_AMINO_ACIDS} and {EXTRA_LETTERS}; remove stop '*' and gap '-')"
        )
    return sequence


def read_fasta(path: str | os.PathLike, validate: bool = True) -> list[Record]:
    """Read a (possibly gzipped) FASTA file into a list of :class:`Record`.

    Multi-line sequences are joined. With ``validate`` each sequence is checked with
    :func:`check_sequence`. Errors name the file, the line (of the first offending sequence
    line; of the header for an empty sequence), the record and the problem: missing file,
    empty file, text before the first header, empty header, empty sequence, invalid characters.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: FASTA file not found")
    records: list[Record] = []
    label: str | None = None
    chunks: list[str] = []
    chunk_lines: list[int] = []
    header_line = 0

    def finish() -> None:
        sequence = "".join(chunks)
        if validate:
            line = next((number for number, chunk in zip(chunk_lines, chunks, strict=True)
                         if invalid_letters(chunk.upper())), header_line)
            sequence = check_sequence(sequence, f"{path}: line {line}: record {len(records) + 1} ('>{label}')")
        records.append(Record(label, sequence))

    with open_text(path) as handle:
        for line_number, raw in enumerate(handle, start=1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith(">"):
                if label is not None:
                    finish()
                label = line[1:].strip()
                if not label:
                    raise UserError(f"{path}: line {line_number}: empty FASTA header")
                chunks, chunk_lines = [], []
                header_line = line_number
            elif label is None:
                raise UserError(f"{path}: line {line_number}: text before the first '>' header")
            else:
                chunks.append(line)
                chunk_lines.append(line_number)
    if label is not None:
        finish()
    if not records:
        raise UserError(f"{path}: no FASTA records (empty file)")
    return records


def write_fasta(records: Iterable[tuple[str, str]], path: str | os.PathLike) -> Path:
    """Write ``(label, sequence)`` records as FASTA (one line per sequence) atomically."""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        for label, sequence in records:
            handle.write(f">{label}\n{sequence}\n")
    return Path(path)


def duplicate_labels(records: Iterable[Record]) -> dict[str, int]:
    """Return ``{label: count}`` for every label that occurs more than once."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record.label] = counts.get(record.label, 0) + 1
    return {label: count for label, count in counts.items() if count > 1}
