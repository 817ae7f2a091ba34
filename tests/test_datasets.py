"""DMS data preparation: validation, the repeated-ID policies, the CLI, and the real mirror."""

from __future__ import annotations

import gzip
import subprocess
import sys

import pandas as pd
import pytest

from plmtransfer.data.datasets import fasta_path, metadata_path, prepare_assays, study_dms_assays
from plmtransfer.data.sequences import read_fasta
from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "prepare_dms.py"


def write_assay(directory, name, rows, columns=(",ID,mutant,target,sequence")):
    """Write ``<name>.csv.gz`` in the study's layout (unnamed index column first)."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [columns] + [",".join([str(index), *map(str, row)]) for index, row in enumerate(rows)]
    with gzip.open(directory / f"{name}.csv.gz", "wt") as handle:
        handle.write("\n".join(lines) + "\n")


GOOD_ROWS = [("v1", "M1A", 0.5, "AKTY"), ("v2", "K2A", -1.0, "MATY"), ("v3", "T3a", 2.0, "mkay")]


def run_prepare(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          capture_output=True, text=True)


def test_prepares_metadata_and_fasta(tmp_path):
    write_assay(tmp_path / "mirror", "TOY", GOOD_ROWS)
    [report] = prepare_assays(["TOY"], tmp_path / "data", tmp_path / "mirror", offline=True)
    assert report.status == "prepared" and report.rows_written == 3
    frame = pd.read_csv(metadata_path(tmp_path / "data", "TOY"))
    assert list(frame.columns) == ["ID", "mutant", "target", "sequence"]
    assert frame["sequence"].tolist() == ["AKTY", "MATY", "MKAY"]
    assert frame["target"].tolist() == [0.5, -1.0, 2.0]
    records = read_fasta(fasta_path(tmp_path / "data", "TOY"))
    assert [(r.label, r.sequence) for r in records] == [("v1", "AKTY"), ("v2", "MATY"), ("v3", "MKAY")]


DUPLICATE_ROWS = [("a", "M1A", 1.0, "AK"), ("b", "K2A", 5.0, "MA"), ("a", "M1A", 3.0, "AK"),
                  ("a", "M1A", 3.0, "AK"), ("c", "K2C", 0.0, "MC")]


@pytest.mark.parametrize("policy, expected", [
    ("mean", {"a": 7.0 / 3.0, "b": 5.0, "c": 0.0}),
    ("first", {"a": 1.0, "b": 5.0, "c": 0.0}),
])
def test_repeated_ids_policies(tmp_path, policy, expected):
    write_assay(tmp_path / "mirror", "DUP", DUPLICATE_ROWS)
    [report] = prepare_assays(["DUP"], tmp_path / "data", tmp_path / "mirror", True, policy)
    assert (report.repeated_ids, report.rows_with_repeated_ids, report.exact_duplicate_rows) == (1, 3, 1)
    frame = pd.read_csv(metadata_path(tmp_path / "data", "DUP"))
    assert frame["ID"].tolist() == ["a", "b", "c"]
    assert dict(zip(frame["ID"], frame["target"], strict=True)) == pytest.approx(expected)


def test_repeated_ids_error_policy_names_them_and_writes_nothing(tmp_path):
    write_assay(tmp_path / "mirror", "DUP", DUPLICATE_ROWS)
    [report] = prepare_assays(["DUP"], tmp_path / "data", tmp_path / "mirror", True, "error")
    assert report.status == "failed"
    assert "1 repeated IDs in 3 rows (e.g. a x3)" in report.message
    assert not (tmp_path / "data").exists()


def test_mean_refuses_to_average_different_sequences(tmp_path):
    write_assay(tmp_path / "mirror", "MIX", [("a", "M1A", 1.0, "AK"), ("a", "M1C", 2.0, "CK")])
    [report] = prepare_assays(["MIX"], tmp_path / "data", tmp_path / "mirror", True, "mean")
    assert report.status == "failed"
    assert "ID a has 2 different sequences" in report.message


@pytest.mark.parametrize("rows, columns, message", [
    ([("a", "M1A", 1.0)], ",ID,mutant,target", "missing required column(s) sequence"),
    ([("a", "M1A", "high", "AK")], ",ID,mutant,target,sequence",
     "row 1 (ID a): target 'high' is not a number"),
    ([("a", "M1A", 1.0, "AK"), ("b", "M1A", 1.0, "")], ",ID,mutant,target,sequence",
     "row 2 (ID b): empty sequence"),
    ([("a", "M1A", 1.0, "AK*")], ",ID,mutant,target,sequence", "row 1 (ID a): characters '*'"),
    ([("a", "M1A", 1.0, "A-K")], ",ID,mutant,target,sequence", "row 1 (ID a): characters '-'"),
])
def test_validation_errors(tmp_path, rows, columns, message):
    write_assay(tmp_path / "mirror", "BAD", rows, columns)
    [report] = prepare_assays(["BAD"], tmp_path / "data", tmp_path / "mirror", True)
    assert report.status == "failed"
    assert message in report.message
    assert "BAD.csv.gz" in report.message
    assert not (tmp_path / "data").exists()


def test_cli_lists_missing_assays_and_fails_when_all_missing(tmp_path):
    write_assay(tmp_path / "mirror", "TOY", GOOD_ROWS)
    result = run_prepare("--datasets", "TOY", "ABSENT", "--mirror", tmp_path / "mirror",
                         "--out-dir", tmp_path / "data", "--offline", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "not found in the mirror or the canonical source (1): ABSENT" in result.stdout
    result = run_prepare("--datasets", "ABSENT", "--mirror", tmp_path / "mirror",
                         "--out-dir", tmp_path / "data2", "--offline", "--quiet")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("none of the requested assays was found: pass --mirror DIR "
                                          "or check the network")
    assert "Traceback" not in result.stderr


def test_cli_exit_code_1_when_an_assay_fails(tmp_path):
    write_assay(tmp_path / "mirror", "TOY", GOOD_ROWS)
    write_assay(tmp_path / "mirror", "BAD", [("a", "M1A", "x", "AK")])
    result = run_prepare("--datasets", "TOY", "BAD", "--mirror", tmp_path / "mirror",
                         "--out-dir", tmp_path / "data", "--offline", "--quiet")
    assert result.returncode == 1
    assert "FAILED BAD" in result.stderr
    assert metadata_path(tmp_path / "data", "TOY").is_file()
    assert not metadata_path(tmp_path / "data", "BAD").exists()


def test_study_assay_list():
    assert len(study_dms_assays()) == 40 == len(set(study_dms_assays()))


def test_prepares_every_assay_of_the_mirror(tmp_path, mirror):
    result = run_prepare("--mirror", mirror / "dms", "--out-dir", tmp_path, "--offline", "--quiet")
    assert result.returncode == 0, result.stderr
    in_mirror = sorted(path.name.removesuffix(".csv.gz") for path in (mirror / "dms").glob("*.csv.gz"))
    prepared = sorted(path.name.removesuffix("_metadata.csv")
                      for path in (tmp_path / "DMS_metadata").glob("*_metadata.csv"))
    assert prepared == in_mirror and len(prepared) == 30
    assert "repeated IDs in BRCA1_HUMAN_BRCT: 152 IDs in 324 rows (172 exact duplicate rows)" in result.stdout
    brca = pd.read_csv(metadata_path(tmp_path, "BRCA1_HUMAN_BRCT"))
    raw = pd.read_csv(mirror / "dms" / "BRCA1_HUMAN_BRCT.csv.gz")
    assert len(brca) == raw["ID"].nunique() and brca["ID"].is_unique
    assert brca.set_index("ID")["target"].to_dict() == pytest.approx(raw.groupby("ID")["target"].mean().to_dict())
    if_records = read_fasta(fasta_path(tmp_path, "IF1_ECOLI"))
    assert len(if_records) == 1439 and {len(r.sequence) for r in if_records} == {72}


def test_max_variants_draws_the_same_rows_in_file_order_and_derives_the_wildtype_from_all(tmp_path, mirror):
    """--max-variants N --seed S: N rows of the assay, in file order, the same ones on every run
    (and a different draw for another seed); the wild type is derived from every variant."""
    args = ("--datasets", "IF1_ECOLI", "--mirror", mirror / "dms", "--offline", "--quiet")
    result = run_prepare(*args, "--out-dir", tmp_path / "a", "--max-variants", 100, "--seed", 3)
    assert result.returncode == 0, result.stderr
    assert "subsampled IF1_ECOLI: 100 of 1439 variants (seed 3)" in result.stdout
    run_prepare(*args, "--out-dir", tmp_path / "b", "--max-variants", 100, "--seed", 3)
    run_prepare(*args, "--out-dir", tmp_path / "c", "--max-variants", 100, "--seed", 4)
    run_prepare(*args, "--out-dir", tmp_path / "full")
    full = pd.read_csv(metadata_path(tmp_path / "full", "IF1_ECOLI"))
    drawn = pd.read_csv(metadata_path(tmp_path / "a", "IF1_ECOLI"))
    assert len(drawn) == 100 and drawn.equals(pd.read_csv(metadata_path(tmp_path / "b", "IF1_ECOLI")))
    assert set(drawn["ID"]) != set(pd.read_csv(metadata_path(tmp_path / "c", "IF1_ECOLI"))["ID"])
    rows = full.set_index("ID").loc[drawn["ID"]].reset_index()
    assert rows.equals(drawn)
    assert full.index[full["ID"].isin(drawn["ID"])].is_monotonic_increasing
    assert drawn["ID"].tolist() == [i for i in full["ID"] if i in set(drawn["ID"])]
    assert [r.label for r in read_fasta(fasta_path(tmp_path / "a", "IF1_ECOLI"))] == drawn["ID"].tolist()
    wildtype = (tmp_path / "a" / "DMS_metadata" / "IF1_ECOLI_wildtype.fasta").read_text()
    assert "derived from 1439 variants" in wildtype
    assert wildtype == (tmp_path / "full" / "DMS_metadata" / "IF1_ECOLI_wildtype.fasta").read_text()
    small = run_prepare(*args, "--out-dir", tmp_path / "d", "--max-variants", 5000)
    assert small.returncode == 0 and "subsampled" not in small.stdout
    assert len(pd.read_csv(metadata_path(tmp_path / "d", "IF1_ECOLI"))) == 1439
    bad = run_prepare(*args, "--out-dir", tmp_path / "e", "--max-variants", 0)
    assert bad.returncode == 2 and "must be a positive integer, got '0'" in bad.stderr
