"""Variants of a DMS assay: mutant strings, the wild type they share, and numbering offsets.

A DMS metadata file lists, per variant, a ``mutant`` string (``A23P``, ``A23P:G45D``; one-based
positions; ``WT``/``wt`` for a wild-type row) and the full ``sequence`` of the variant. The
wild type is not stored in the study's files; it is derived here: every variant's sequence
with its substitutions reverted must give the same sequence, and that sequence is the wild
type. A wild-type row's sequence is the wild type itself.

Some assays number their mutants differently from their sequences (a constant shift, such as
MTH3_HAEAESTABILIZED_Tawfik2015, whose ``A20V`` changes sequence position 21).
:func:`detect_offset` finds such a shift; it is applied only when the caller asks for it
(``offset``: sequence position = mutant position + offset).

Every problem is one :class:`UserError` naming the file, the row (1-based, as the data rows
are counted) and the variant.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from plmtransfer.errors import UserError

WILDTYPE_NAMES = frozenset({"WT", "WILDTYPE", "WILD_TYPE", "_WT"})
_SUBSTITUTION = re.compile(r"^([A-Z])(\d+)([A-Z])$")
OFFSET_SEARCH = 50


@dataclass(frozen=True)
class Substitution:
    """One substitution: the wild-type letter, the one-based position as written, the new letter."""

    wt: str
    position: int
    mt: str

    def index(self, offset: int = 0) -> int:
        """Zero-based index into the sequence once ``offset`` is applied."""
        return self.position - 1 + offset


@dataclass
class Variants:
    """The variants of one assay, in file order: ID, mutant string, parsed substitutions, target,
    sequence (None when the file has no ``sequence`` column)."""

    source: str
    ids: list[str]
    mutants: list[str]
    substitutions: list[tuple[Substitution, ...]]
    targets: np.ndarray
    sequences: list[str] | None

    def where(self, row: int) -> str:
        """``<file>: row <n> (ID <id>, mutant <m>)`` for error messages."""
        return f"{self.source}: row {row + 1} (ID {self.ids[row]}, mutant {self.mutants[row]!r})"


def parse_mutant(text: str) -> tuple[Substitution, ...]:
    """Parse ``A23P`` or ``A23P:G45D`` (case-insensitive); a wild-type name gives ``()``.

    Raises ``ValueError`` with the reason for anything else (the caller names the row).
    """
    cleaned = str(text).strip().upper()
    if cleaned in WILDTYPE_NAMES:
        return ()
    if not cleaned or cleaned == "NAN":
        raise ValueError("empty mutant")
    parts = cleaned.split(":")
    substitutions = []
    for part in parts:
        match = _SUBSTITUTION.match(part)
        if match is None:
            raise ValueError(f"{part!r} is not a substitution like 'A23P'")
        substitution = Substitution(match.group(1), int(match.group(2)), match.group(3))
        if substitution.position < 1:
            raise ValueError(f"{part!r}: positions start at 1")
        substitutions.append(substitution)
    positions = [substitution.position for substitution in substitutions]
    if len(set(positions)) != len(positions):
        raise ValueError("the same position is listed twice")
    return tuple(substitutions)


def variants_from_frame(frame: pd.DataFrame, source: str) -> Variants:
    """Parse a metadata frame (``ID``, ``mutant``, ``target``; ``sequence`` optional)."""
    missing = [column for column in ("ID", "mutant", "target") if column not in frame.columns]
    if missing:
        raise UserError(f"{source}: missing column(s) {', '.join(missing)}; zero-shot scoring needs "
                        "ID, mutant and target (found " + ", ".join(map(str, frame.columns)) + ")")
    ids = frame["ID"].astype(str).tolist()
    mutants = frame["mutant"].tolist()
    parsed = []
    for row, mutant in enumerate(mutants):
        try:
            parsed.append(parse_mutant(mutant))
        except ValueError as reason:
            raise UserError(f"{source}: row {row + 1} (ID {ids[row]}): malformed mutant "
                            f"{mutant!r}: {reason}") from None
    sequences = None
    if "sequence" in frame.columns:
        sequences = [str(sequence).strip().upper() for sequence in frame["sequence"]]
    targets = pd.to_numeric(frame["target"], errors="coerce").to_numpy(dtype=np.float64)
    return Variants(source, ids, [str(mutant) for mutant in mutants], parsed, targets, sequences)


def read_variants(path) -> Variants:
    """Read a metadata CSV (prepared ``<D>_metadata.csv`` or a mirror ``<D>.csv.gz``)."""
    try:
        frame = pd.read_csv(path, dtype={"ID": str})
    except FileNotFoundError:
        raise UserError(f"{path}: metadata file not found") from None
    return variants_from_frame(frame, str(path))


def offset_candidates(variants: Variants, wildtype: str | None) -> list[int]:
    """Offsets in ``[-OFFSET_SEARCH, OFFSET_SEARCH]`` under which every substitution is consistent.

    Consistent: the position lies in the sequence, the variant's own sequence holds the new
    letter there and, when ``wildtype`` is given, the wild type holds the old letter.
    """
    rows, positions, old, new = [], [], [], []
    for row, substitutions in enumerate(variants.substitutions):
        for substitution in substitutions:
            rows.append(row)
            positions.append(substitution.position - 1)
            old.append(substitution.wt)
            new.append(substitution.mt)
    if not rows:
        return [0]
    positions_array = np.array(positions)
    candidates = []
    for offset in sorted(range(-OFFSET_SEARCH, OFFSET_SEARCH + 1), key=abs):
        index = positions_array + offset
        if index.min() < 0:
            continue
        if variants.sequences is not None:
            if any(index[k] >= len(variants.sequences[row]) or variants.sequences[row][index[k]] != new[k]
                   for k, row in enumerate(rows)):
                continue
        if wildtype is not None:
            if index.max() >= len(wildtype) or any(wildtype[i] != letter for i, letter in zip(index, old, strict=True)):
                continue
        candidates.append(offset)
    return candidates


def detect_offset(variants: Variants, wildtype: str | None = None) -> int | None:
    """The constant numbering offset that makes every variant consistent (0 preferred), or None."""
    candidates = offset_candidates(variants, wildtype)
    return candidates[0] if candidates else None


def apply_substitutions(sequence: str, substitutions: Sequence[Substitution], offset: int = 0,
                        revert: bool = False) -> str:
    """``sequence`` with ``substitutions`` applied (or, with ``revert``, undone)."""
    letters = list(sequence)
    for substitution in substitutions:
        letters[substitution.index(offset)] = substitution.wt if revert else substitution.mt
    return "".join(letters)


def offset_advice(variants: Variants, wildtype: str | None, offset: int) -> str:
    """A hint for an inconsistency: the offset that would fix it, if one exists."""
    found = detect_offset(variants, wildtype)
    if found is None or found == offset:
        return ""
    return (f"; every variant is consistent if mutant positions are shifted by {found:+d} "
            f"(sequence position = mutant position {found:+d}): pass --offset {found} or --offset auto")


def check_row(variants: Variants, row: int, wildtype: str | None, offset: int) -> None:
    """Check one variant against its own sequence and the wild type; raise naming the row."""
    sequence = variants.sequences[row] if variants.sequences is not None else None
    length = len(wildtype) if wildtype is not None else len(sequence)
    for substitution in variants.substitutions[row]:
        index = substitution.index(offset)
        problem = None
        if not 0 <= index < length:
            problem = (f"position {substitution.position} (sequence position {index + 1}) is outside "
                       f"the {length}-residue sequence")
        elif wildtype is not None and wildtype[index] != substitution.wt:
            problem = (f"wild-type letter {substitution.wt} at position {substitution.position} "
                       f"disagrees with the wild type's {wildtype[index]} at sequence position {index + 1}")
        elif sequence is not None and sequence[index] != substitution.mt:
            problem = (f"the variant's sequence has {sequence[index]} at sequence position {index + 1}, "
                       f"not the mutant letter {substitution.mt}")
        if problem:
            raise UserError(f"{variants.where(row)}: {problem}{offset_advice(variants, wildtype, offset)}")


def derive_wildtype(variants: Variants, offset: int = 0) -> str:
    """The wild type shared by all variants: each sequence with its substitutions reverted.

    Raises :class:`UserError` naming the first row that disagrees with the majority.
    """
    if variants.sequences is None:
        raise UserError(f"{variants.source}: no sequence column: the wild type cannot be derived "
                        "(pass it with --wildtype)")
    lengths = Counter(len(sequence) for sequence in variants.sequences)
    if len(lengths) > 1:
        common = lengths.most_common(1)[0][0]
        row = next(row for row, sequence in enumerate(variants.sequences) if len(sequence) != common)
        raise UserError(f"{variants.where(row)}: sequence of {len(variants.sequences[row])} residues, "
                        f"others {common}: substitution variants share one length")
    for row in range(len(variants.ids)):
        check_row(variants, row, None, offset)
    reverted = [apply_substitutions(sequence, substitutions, offset, revert=True)
                for sequence, substitutions in zip(variants.sequences, variants.substitutions, strict=True)]
    wildtype = Counter(reverted).most_common(1)[0][0]
    for row, candidate in enumerate(reverted):
        if candidate != wildtype:
            index = next(i for i, (a, b) in enumerate(zip(candidate, wildtype, strict=True)) if a != b)
            listed = {substitution.index(offset) for substitution in variants.substitutions[row]}
            if index in listed:
                problem = (f"wild-type letter {candidate[index]} at sequence position {index + 1} disagrees "
                           f"with the wild type's {wildtype[index]} (derived from the other variants)")
            else:
                problem = (f"its sequence has {candidate[index]} at position {index + 1} where the wild type "
                           f"(derived from the other variants) has {wildtype[index]}, a position its "
                           "mutant string does not list")
            raise UserError(f"{variants.where(row)}: {problem}")
    return wildtype


def check_variants(variants: Variants, wildtype: str, offset: int = 0) -> None:
    """Check every variant against ``wildtype`` (and its own sequence, when present)."""
    for row in range(len(variants.ids)):
        check_row(variants, row, wildtype, offset)
    for row in range(len(variants.ids)):
        if variants.sequences is not None:
            expected = apply_substitutions(wildtype, variants.substitutions[row], offset)
            if variants.sequences[row] != expected:
                raise UserError(f"{variants.where(row)}: its sequence is not the wild type with its "
                                "listed substitutions applied")
