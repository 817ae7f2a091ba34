"""A plain CSV of sequences and a value: the PISCES-like layout, generated IDs, and one clear error per defect."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from plmtransfer.cli import prepare_csv, reg_lassoCV
from plmtransfer.cli.common import run_cli
from plmtransfer.data import plain_csv
from plmtransfer.data.sequences import read_fasta
from plmtransfer.errors import UserError

GOOD = """sequence,solubility,uniprot
mktayiak,0.5,P1
MKTAYIAR,1.25,P2
MKVLAAGI,-3,P3
"""


def write(tmp_path, text: str, name: str = "solubility.csv"):
    """``text`` as a CSV file in ``tmp_path``."""
    path = tmp_path / name
    path.write_text(text)
    return path


def test_generated_ids_name_the_input_line(tmp_path):
    path = write(tmp_path, GOOD)
    prepared = plain_csv.prepare(path, "solubility", tmp_path / "data")
    assert prepared.generated_ids and prepared.rows == 3
    metadata = pd.read_csv(tmp_path / "data" / "CSV_metadata" / "solubility.csv")
    assert metadata.to_dict("list") == {"ID": ["solubility_2", "solubility_3", "solubility_4"],
                                        "target": [0.5, 1.25, -3.0],
                                        "sequence": ["MKTAYIAK", "MKTAYIAR", "MKVLAAGI"]}
    records = read_fasta(tmp_path / "data" / "CSV" / "solubility.fasta")
    assert [(record.label, record.sequence) for record in records] == [
        ("solubility_2", "MKTAYIAK"), ("solubility_3", "MKTAYIAR"), ("solubility_4", "MKVLAAGI")]


def test_id_column_name_and_set(tmp_path, capsys):
    path = write(tmp_path, GOOD + "\n\n")  # blank lines at the end are ignored
    code = run_cli(prepare_csv.main, [str(path), "--target-column", "solubility", "--id-column", "uniprot",
                                      "--name", "sol", "--set", "MINE", "--out-dir", str(tmp_path / "data")])
    assert code == 0
    assert "sol: 3 sequences (IDs from column uniprot)" in capsys.readouterr().out
    metadata = pd.read_csv(tmp_path / "data" / "MINE_metadata" / "sol.csv")
    assert metadata["ID"].tolist() == ["P1", "P2", "P3"]
    assert [record.label for record in read_fasta(tmp_path / "data" / "MINE" / "sol.fasta")] == ["P1", "P2", "P3"]


@pytest.mark.parametrize(("text", "flags", "message"), [
    (GOOD, ["--target-column", "Tm"], "no column 'Tm' (--target-column); the header has 'sequence', "
                                      "'solubility', 'uniprot'"),
    (GOOD, ["--target-column", "solubility", "--id-column", "id"], "no column 'id' (--id-column)"),
    ("sequence,solubility\n", ["--target-column", "solubility"], "no data lines"),
    ("sequence,solubility\nMKT,1\n,2\n", ["--target-column", "solubility"], "line 3: empty sequence"),
    ("sequence,solubility\nMKT,1\nMK-T,2\n", ["--target-column", "solubility"],
     "line 3: characters '-' are not amino acids"),
    ("sequence,solubility\nMKT,1\nMKJ1,2\n", ["--target-column", "solubility"],
     "line 3: characters '1J' are not amino acids"),
    ("sequence,solubility\nMKT,1\nMKV,\n", ["--target-column", "solubility"],
     "line 3: missing value in column 'solubility'"),
    ("sequence,solubility\nMKT,1\nMKV,NA\n", ["--target-column", "solubility"],
     "line 3: solubility 'NA' is not a number"),
    ("sequence,solubility\nMKT,1\nMKV,inf\n", ["--target-column", "solubility"],
     "line 3: solubility 'inf' is not a number"),
    ("sequence,solubility\nMKT,1\nMKV,2\nmkt,3\n", ["--target-column", "solubility"],
     "line 4: the sequence repeats line 2 (one protein per line)"),
    ("sequence,solubility,id\nMKT,1,a\nMKV,2,b\nMKW,3,a\n", ["--target-column", "solubility", "--id-column", "id"],
     "line 4: ID 'a' repeats line 2"),
    ("sequence,solubility,id\nMKT,1,a\nMKV,2, \n", ["--target-column", "solubility", "--id-column", "id"],
     "line 3: empty ID in column 'id'"),
])
def test_each_defect_is_one_line_naming_file_and_line_and_nothing_is_written(tmp_path, capsys, text, flags,
                                                                             message):
    path = write(tmp_path, text)
    code = run_cli(prepare_csv.main, [str(path), *flags, "--out-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert f"{path}: {message}" in err
    assert not (tmp_path / "data").exists()


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="nope.csv: file not found"):
        plain_csv.prepare(tmp_path / "nope.csv", "y", tmp_path / "data")


def test_a_failed_rerun_leaves_the_previous_files_whole(tmp_path):
    path = write(tmp_path, GOOD)
    prepared = plain_csv.prepare(path, "solubility", tmp_path / "data")
    before = (prepared.metadata.read_text(), prepared.fasta.read_text())
    write(tmp_path, GOOD + "MKQ,oops,P4\n")
    with pytest.raises(UserError, match="line 5: solubility 'oops' is not a number"):
        plain_csv.prepare(path, "solubility", tmp_path / "data")
    assert (prepared.metadata.read_text(), prepared.fasta.read_text()) == before
    assert sorted(p.name for p in prepared.metadata.parent.iterdir()) == ["solubility.csv"]


def test_prepared_table_runs_through_the_regression(tmp_path):
    """prepare -> one-hot-like features keyed by the generated IDs -> reg_lassoCV on the metadata."""
    rng = np.random.default_rng(0)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    sequences = ["".join(rng.choice(letters, 12)) for _ in range(40)]
    values = [sequence.count("K") + 0.01 * (index % 3) for index, sequence in enumerate(sequences)]
    path = write(tmp_path, "sequence,y\n" + "".join(f"{s},{v}\n" for s, v in zip(sequences, values, strict=True)))
    prepared = plain_csv.prepare(path, "y", tmp_path / "data")
    metadata = pd.read_csv(prepared.metadata)
    features = pd.DataFrame([[sequence.count(letter) for letter in letters] for sequence in metadata["sequence"]],
                            index=metadata["ID"]).rename_axis("ID")
    features.to_csv(tmp_path / "embed_layer_0_counts.csv")
    out = tmp_path / "results.csv"
    assert run_cli(reg_lassoCV.main, ["-i", str(tmp_path / "embed_layer_0_counts.csv"), "-m", str(prepared.metadata),
                                      "-o", str(out), "--jobs", "1", "--quiet"]) == 0
    results = pd.read_csv(out)
    assert len(results) == 5 and results["rho_score_test"].mean() > 0.8
