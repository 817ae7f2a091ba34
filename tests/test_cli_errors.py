"""Input errors come before any heavy import: one line, exit 2, no torch, scikit-learn or pandas (issue #34)."""

from __future__ import annotations

import gzip

import pytest

from plmtransfer.errors import did_you_mean
from tests.test_cli import HEAVY, imported_packages


@pytest.fixture
def inputs(tmp_path):
    """A good and a bad FASTA, metadata with and without ``target``, an embeddings file, a gzipped metadata."""
    (tmp_path / "good.fasta").write_text(">a\nMKT\n")
    (tmp_path / "bad.fasta").write_text(">a\nMKT\n>b second\nMKTAY\nMK*T\n")
    (tmp_path / "meta.csv").write_text(",ID,mutant,value\n0,A,M1K,1.5\n")
    with gzip.open(tmp_path / "meta.csv.gz", "wt") as handle:
        handle.write("ID,score\nA,1\n")
    (tmp_path / "embed_layer_2_mean.pkl").write_bytes(b"")
    return tmp_path


def error_line(completed) -> str:
    """The one line the script wrote on stderr besides ``-X importtime``'s report."""
    lines = [line for line in completed.stderr.splitlines() if not line.startswith("import time:")]
    assert len(lines) == 1, completed.stderr[-3000:]
    return lines[0]


CASES = {
    "extract_near_miss_model": (
        ["scripts/extract.py", "esm2_650m", "{d}/good.fasta", "{d}/out", "--include", "mean"],
        "unknown model 'esm2_650m': .*; did you mean 'esm2_650M'\\?$"),
    "extract_unknown_model": (
        ["scripts/extract.py", "esm9_huge", "{d}/good.fasta", "{d}/out", "--include", "mean"],
        "unknown model 'esm9_huge': use a registry name"),
    "extract_bad_fasta_names_the_line": (
        ["scripts/extract.py", "esm2_8M", "{d}/bad.fasta", "{d}/out", "--include", "mean"],
        "bad.fasta: line 5: record 2 \\('>b second'\\): characters '\\*' are not amino acids"),
    "extract_missing_fasta": (
        ["scripts/extract.py", "esm2_8M", "{d}/absent.fasta", "{d}/out", "--include", "mean"],
        "absent.fasta: FASTA file not found"),
    "extract_flags": (
        ["scripts/extract.py", "esm2_8M", "{d}/good.fasta", "{d}/out", "--pool", "maxpool"],
        "unknown compression method\\(s\\) maxpool: .*did you mean 'maxPool'\\?"),
    "reg_lassoCV_missing_target": (
        ["scripts/reg_lassoCV.py", "-i", "{d}/embed_layer_2_mean.pkl", "-m", "{d}/meta.csv", "-o", "{d}/r.csv"],
        "meta.csv: metadata needs columns 'ID' and 'target'; missing \\['target'\\]"),
    "reg_lassoCV_gzipped_metadata": (
        ["scripts/reg_lassoCV.py", "-i", "{d}/embed_layer_2_mean.pkl", "-m", "{d}/meta.csv.gz", "-o", "{d}/r.csv"],
        "meta.csv.gz: metadata needs columns 'ID' and 'target'; missing \\['target'\\]"),
    "reg_lassoCV_missing_input": (
        ["scripts/reg_lassoCV.py", "-i", "{d}/absent.pkl", "-m", "{d}/meta.csv", "-o", "{d}/r.csv"],
        "absent.pkl: compressed-embedding file not found"),
    "reg_lassoCV_missing_metadata": (
        ["scripts/reg_lassoCV.py", "-i", "{d}/embed_layer_2_mean.pkl", "-m", "{d}/absent.csv", "-o", "{d}/r.csv"],
        "absent.csv: metadata file not found"),
    "reg_lassoCV_sampling_missing_target": (
        ["scripts/reg_lassoCV_sampling.py", "-i", "{d}/embed_layer_2_mean.pkl", "-m", "{d}/meta.csv",
         "-o", "{d}/r.csv"],
        "meta.csv: metadata needs columns 'ID' and 'target'; missing \\['target'\\]"),
    "prepare_dms_near_miss_assay": (
        ["scripts/prepare_dms.py", "--datasets", "IF1_ECOLI", "IF1_ECOL", "--out-dir", "{d}/data", "--offline"],
        "unknown assay 'IF1_ECOL' \\(not one of config/study.yaml's DMS assays\\): did you mean 'IF1_ECOLI'\\?$"),
    "compress_missing_directory": (
        ["scripts/compress.py", "-e", "{d}/absent", "-o", "{d}/c", "-l", "2", "-c", "mean"],
        "absent: embedding directory not found"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_input_error_is_one_line_before_any_heavy_import(case, inputs):
    arguments, message = CASES[case]
    completed, packages = imported_packages(*(argument.format(d=inputs) for argument in arguments))
    assert completed.returncode == 2, completed.stderr[-3000:]
    line = error_line(completed)
    assert line.split(": error: ", 1)[0].endswith(".py"), line
    assert pytest.importorskip("re").search(message, line), line
    assert "argparse" in packages  # the parse of -X importtime found imports
    assert not packages & HEAVY, sorted(packages & HEAVY)
    assert not (inputs / "out").exists() and not (inputs / "data").exists() and not (inputs / "c").exists()


def test_did_you_mean_prefers_a_letter_case_match_then_close_names():
    assert did_you_mean("esm2_650m", ["esm2_150M", "esm2_650M", "esm1v_650M"]) == "did you mean 'esm2_650M'?"
    assert did_you_mean("IF1_ECOL", ["IF1_ECOLI", "BLAT_ECOLX"]) == "did you mean 'IF1_ECOLI'?"
    assert did_you_mean("pca12", ["pca1", "pca2", "pca1-2", "mean"]) == "did you mean 'pca1-2' or 'pca2' or 'pca1'?"
    assert did_you_mean("esm9_huge", ["esm2_8M", "onehot"]) == ""
