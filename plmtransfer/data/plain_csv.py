"""A plain CSV of sequences and a measured value as a data set of the pipeline (a property table).

For data sets that are not mutational scans: one protein per line, a ``sequence`` column, a value
column named by the user and, optionally, an ID column. The file is checked completely before
anything is written, and every problem is one :class:`UserError` naming the file, the line (the
header is line 1) and what is wrong: a missing column, an empty sequence, letters that are not
amino acids, a missing or non-numeric value, a repeated ID or a repeated sequence (the same
protein twice would sit in a training and a test fold at once).

Written in the PISCES-like layout of :mod:`plmtransfer.layout` for a family ``<SET>`` (default
``CSV``) and a data set ``<name>``:

- ``<SET>/<name>.fasta``: ``>ID`` / sequence (upper case), one record per line of the file;
- ``<SET>_metadata/<name>.csv``: ``ID,target,sequence`` in the file's order.

Without an ID column the IDs are generated as ``<name>_<line>`` (the line of the input file), so
each ID says where its row came from; the metadata records them beside the sequences.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from plmtransfer import layout
from plmtransfer.data.sequences import check_sequence, write_fasta
from plmtransfer.errors import UserError
from plmtransfer.io import write_dataframe_csv

if TYPE_CHECKING:  # pandas is imported where it is used: prepare_csv.py --help must answer at once
    import pandas as pd

DEFAULT_SET = "CSV"
SEQUENCE_COLUMN = "sequence"
COLUMNS = ["ID", "target", "sequence"]
FIRST_DATA_LINE = 2  # the header is line 1


@dataclass
class Prepared:
    """What preparing a plain CSV wrote."""

    name: str
    rows: int
    generated_ids: bool
    metadata: Path
    fasta: Path


def read_table(path: Path) -> pd.DataFrame:
    """Every cell as text (empty cells as ``""``, so a missing value stays visible); trailing blank lines dropped."""
    import pandas as pd

    if not path.is_file():
        raise UserError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as reason:
        raise UserError(f"{path}: not a readable CSV file ({' '.join(str(reason).split())})") from None
    blank = frame.apply(lambda row: all(str(cell).strip() == "" for cell in row), axis=1).to_numpy()
    end = len(frame)
    while end and blank[end - 1]:
        end -= 1
    return frame.iloc[:end].reset_index(drop=True)


def line_of(row: int) -> int:
    """The file line of a data row (0-based row after the header)."""
    return row + FIRST_DATA_LINE


def check_columns(frame: pd.DataFrame, path: Path, columns: dict[str, str]) -> None:
    """Error naming the flag of each required column the file lacks."""
    for column, flag in columns.items():
        if column not in frame.columns:
            raise UserError(f"{path}: no column {column!r} ({flag}); the header has "
                            f"{', '.join(map(repr, frame.columns))}")


def parse_targets(values: pd.Series, path: Path, column: str) -> list[float]:
    """The value column as floats; error naming the first line with a missing or non-numeric value."""
    import math

    targets = []
    for row, text in enumerate(values):
        text = str(text).strip()
        if not text:
            raise UserError(f"{path}: line {line_of(row)}: missing value in column {column!r}")
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise UserError(f"{path}: line {line_of(row)}: {column} {text!r} is not a number")
        targets.append(value)
    return targets


def first_repeat(values: list[str]) -> tuple[int, int] | None:
    """(row, earlier row) of the first value that repeats an earlier one, or None."""
    seen: dict[str, int] = {}
    for row, value in enumerate(values):
        if value in seen:
            return row, seen[value]
        seen[value] = row
    return None


def read_plain_csv(path: str | os.PathLike, target_column: str, id_column: str | None = None,
                   name: str | None = None, sequence_column: str = SEQUENCE_COLUMN) -> tuple[pd.DataFrame, bool]:
    """The checked table ``ID,target,sequence`` of a plain CSV, and whether its IDs were generated."""
    import pandas as pd

    path = Path(path)
    frame = read_table(path)
    columns = {sequence_column: "--sequence-column", target_column: "--target-column"}
    if id_column is not None:
        columns[id_column] = "--id-column"
    check_columns(frame, path, columns)
    if frame.empty:
        raise UserError(f"{path}: no data lines")
    name = name or dataset_name(path)
    sequences = [check_sequence(str(sequence), f"{path}: line {line_of(row)}")
                 for row, sequence in enumerate(frame[sequence_column])]
    targets = parse_targets(frame[target_column], path, target_column)
    if id_column is None:
        ids = [f"{name}_{line_of(row)}" for row in range(len(frame))]
    else:
        ids = [str(identifier).strip() for identifier in frame[id_column]]
        empty = next((row for row, identifier in enumerate(ids) if not identifier), None)
        if empty is not None:
            raise UserError(f"{path}: line {line_of(empty)}: empty ID in column {id_column!r}")
    repeat = first_repeat(ids)
    if repeat is not None:
        raise UserError(f"{path}: line {line_of(repeat[0])}: ID {ids[repeat[0]]!r} repeats line {line_of(repeat[1])}")
    repeat = first_repeat(sequences)
    if repeat is not None:
        raise UserError(f"{path}: line {line_of(repeat[0])}: the sequence repeats line {line_of(repeat[1])} "
                        "(one protein per line)")
    return pd.DataFrame({"ID": ids, "target": targets, "sequence": sequences})[COLUMNS], id_column is None


def dataset_name(path: str | os.PathLike) -> str:
    """The default data-set name of an input file: its name without ``.csv`` (and ``.gz``)."""
    return layout.dataset_of_metadata(path)


def prepare(path: str | os.PathLike, target_column: str, out_dir: str | os.PathLike, name: str | None = None,
            id_column: str | None = None, set_name: str = DEFAULT_SET,
            sequence_column: str = SEQUENCE_COLUMN) -> Prepared:
    """Check the whole file, then write the FASTA and the metadata (each atomically); see the module."""
    name = name or dataset_name(path)
    if not name or "/" in name or name.startswith("."):
        raise UserError(f"--name {name!r}: a data-set name must be a plain file name")
    table, generated = read_plain_csv(path, target_column, id_column, name, sequence_column)
    fasta = write_fasta(zip(table["ID"], table["sequence"], strict=True), layout.fasta_path(set_name, name, out_dir))
    metadata = write_dataframe_csv(table, layout.metadata_path(set_name, name, out_dir))
    return Prepared(name, len(table), generated, metadata, fasta)
