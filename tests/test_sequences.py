"""The shared FASTA reader: parsing and every validation error."""

from __future__ import annotations

import gzip

import pytest

from plmtransfer.data.sequences import Record, duplicate_labels, read_fasta, write_fasta
from plmtransfer.errors import UserError


def write(tmp_path, text: str, name: str = "input.fasta"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_multiline_records_and_uppercases(tmp_path):
    path = write(tmp_path, ">a first\nMKT\nayi\n\n>b\nXBZUO\n")
    assert read_fasta(path) == [Record("a first", "MKTAYI"), Record("b", "XBZUO")]


def test_reads_gzip(tmp_path):
    path = tmp_path / "x.fasta.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(">s\nACDE\n")
    assert read_fasta(path) == [Record("s", "ACDE")]


def test_round_trip(tmp_path):
    records = [Record("one", "MKV"), Record("two", "W")]
    path = write_fasta(records, tmp_path / "out.fasta")
    assert read_fasta(path) == records


@pytest.mark.parametrize("text, message", [
    ("", "no FASTA records"),
    ("MKT\n>a\nMKT\n", "line 1: text before the first '>' header"),
    (">a\nMKT\n>\nMKT\n", "line 3: empty FASTA header"),
    (">a\nMKT\n>b\n>c\nMK\n", r"line 3: record 2 \('>b'\): empty sequence"),
    (">a\nMK*\n", r"line 2: record 1 \('>a'\): characters '\*' are not amino acids"),
    (">a\nMK-T\n", r"characters '-' are not amino acids"),
    (">a\nMK1J\n", r"characters '1J' are not amino acids"),
    (">a\nMKT\n>b two\nMKTAY\nmkty\nMK*T\nKK-\n", r"line 6: record 2 \('>b two'\): characters '\*-'"),
])
def test_bad_input_names_file_record_and_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(UserError, match=message) as error:
        read_fasta(path)
    assert str(path) in str(error.value)
    assert "\n" not in str(error.value)


def test_the_error_names_the_line_of_the_offending_sequence_in_a_gzipped_file(tmp_path):
    path = tmp_path / "x.fasta.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(">s\nACDE\n\n>t\nACDE\nAC\nAC*D\n")
    with pytest.raises(UserError, match=r"x\.fasta\.gz: line 7: record 2 \('>t'\): characters '\*'"):
        read_fasta(path)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="FASTA file not found"):
        read_fasta(tmp_path / "absent.fasta")


def test_duplicate_labels_are_counted():
    records = [Record("a", "M"), Record("b", "M"), Record("a", "K"), Record("a", "K")]
    assert duplicate_labels(records) == {"a": 3}
