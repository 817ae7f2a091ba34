"""ProteinGym in and out: its assay files and folds prepared, regressed on its own folds, scored its way.

The fixture is built here, independently of the code under test, in ProteinGym's format from a
mirror assay (IF1_ECOLI's single mutants): ``mutant, mutated_sequence, DMS_score, DMS_score_bin``
plus ``fold_random_5, fold_modulo_5, fold_contiguous_5`` computed by this file's own rules, and a
reference table ``DMS_id, target_seq``.
"""

from __future__ import annotations

import re
import zipfile

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.linear_model import LassoCV
from sklearn.preprocessing import MinMaxScaler

from plmtransfer.cli import extract as extract_cli
from plmtransfer.cli import prepare_proteingym, reg_lassoCV
from plmtransfer.cli.common import run_cli
from plmtransfer.data import proteingym
from plmtransfer.data.sequences import read_fasta
from plmtransfer.errors import UserError
from plmtransfer.io import load_compressed
from plmtransfer.learn import regress, splits

DMS_ID = "IF1_ECOLI_Fixture_2024"
SINGLE = re.compile(r"^([A-Z])(\d+)([A-Z])$")


def proteingym_fixture(mirror, n_rows: int = 300) -> tuple[pd.DataFrame, str]:
    """IF1_ECOLI's single mutants in ProteinGym's supervised format (every 4th one), and its wild type."""
    study = pd.read_csv(mirror / "dms" / "IF1_ECOLI.csv.gz")
    study = study[study["mutant"].astype(str).str.fullmatch(SINGLE.pattern)].iloc[::4].head(n_rows)
    study = study.drop_duplicates("mutant").reset_index(drop=True)
    wildtype = list(study["sequence"].iloc[0])
    for mutant in study["mutant"]:
        wt, position, _ = SINGLE.match(mutant).groups()
        wildtype[int(position) - 1] = wt
    positions = study["mutant"].str.extract(r"(\d+)")[0].astype(int)
    ranks = positions.rank(method="dense").astype(int) - 1
    n_positions = ranks.max() + 1
    block_edges = np.linspace(0, n_positions, 6).astype(int)  # five contiguous blocks of positions
    frame = pd.DataFrame({
        "mutant": study["mutant"],
        "mutated_sequence": study["sequence"],
        "DMS_score": study["target"],
        "DMS_score_bin": (study["target"] > study["target"].median()).astype(int),
        "fold_random_5": np.random.default_rng(7).permutation(len(study)) % 5,
        "fold_modulo_5": ranks % 5,
        "fold_contiguous_5": np.searchsorted(block_edges, ranks, side="right") - 1,
    })
    return frame, "".join(wildtype)


def write_sources(tmp_path, frame: pd.DataFrame, wildtype: str, dms_id: str = DMS_ID):
    """The fixture as ProteinGym ships it: a folder with ``<DMS_id>.csv`` and the reference table."""
    folder = tmp_path / "cv_folds_singles_substitutions"
    folder.mkdir(exist_ok=True)
    frame.to_csv(folder / f"{dms_id}.csv", index=False)
    reference = tmp_path / "DMS_substitutions.csv"
    pd.DataFrame({"DMS_index": [0, 1], "DMS_id": ["OTHER_ASSAY_2020", dms_id],
                  "DMS_filename": ["OTHER_ASSAY_2020.csv", f"{dms_id}.csv"],
                  "target_seq": ["MKV", wildtype], "seq_len": [3, len(wildtype)]}).to_csv(reference, index=False)
    return folder, reference


@pytest.fixture
def fixture(mirror):
    """The ProteinGym-format fixture (skipped with the mirror's reason when the mirror is absent)."""
    return proteingym_fixture(mirror)


def test_prepare_writes_the_study_layout_with_the_files_folds(fixture, tmp_path):
    frame, wildtype = fixture
    folder, reference = write_sources(tmp_path, frame, wildtype)
    out = tmp_path / "data"
    assert run_cli(prepare_proteingym.main, ["--datasets", DMS_ID, "--source", str(folder),
                                             "--reference", str(reference), "--out-dir", str(out)]) == 0
    metadata = pd.read_csv(out / "DMS_metadata" / f"{DMS_ID}_metadata.csv")
    assert list(metadata.columns) == ["ID", "mutant", "target", "sequence", *proteingym.FOLD_COLUMNS]
    assert metadata["ID"].tolist() == [f"{DMS_ID}_{mutant}" for mutant in frame["mutant"]]
    assert metadata["target"].tolist() == pytest.approx(frame["DMS_score"].tolist())
    for column in proteingym.FOLD_COLUMNS:
        assert metadata[column].tolist() == frame[column].tolist()
    records = read_fasta(out / "DMS_mut_sequences" / f"{DMS_ID}_muts.fasta")
    assert [(record.label, record.sequence) for record in records] == list(
        zip(metadata["ID"], frame["mutated_sequence"], strict=True))
    assert read_fasta(out / "DMS_metadata" / f"{DMS_ID}_wildtype.fasta")[0].sequence == wildtype


def test_prepare_reads_proteingyms_zip(fixture, tmp_path):
    frame, wildtype = fixture
    folder, reference = write_sources(tmp_path, frame, wildtype)
    archive = tmp_path / "cv_folds_singles_substitutions.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(folder / f"{DMS_ID}.csv", f"cv_folds_singles_substitutions/{DMS_ID}.csv")
    reports = proteingym.prepare([DMS_ID], archive, reference, tmp_path / "data")
    assert reports[0].rows == len(frame) and reports[0].fold_columns == proteingym.FOLD_COLUMNS
    assert reports[0].source.endswith(f"cv_folds_singles_substitutions/{DMS_ID}.csv")


def independent_pooled_scores(features: np.ndarray, target: np.ndarray, folds: np.ndarray) -> tuple[float, float]:
    """The study's LassoCV on each of the file's folds, written out here: pooled Spearman and MSE."""
    scaled = MinMaxScaler().fit_transform(features)
    predicted = np.empty_like(target)
    for fold in np.unique(folds):
        test = folds == fold
        model = LassoCV(max_iter=1000, tol=1e-2, random_state=42).fit(scaled[~test], target[~test])
        predicted[test] = model.predict(scaled[test])
    return float(spearmanr(target, predicted)[0]), float(np.mean((target - predicted) ** 2))


def test_end_to_end_on_proteingyms_contiguous_folds(fixture, tmp_path, capsys):
    """prepare -> extract (onehot, flat) -> regression on the file's contiguous folds -> ProteinGym's scores."""
    frame, wildtype = fixture
    folder, reference = write_sources(tmp_path, frame, wildtype)
    data = tmp_path / "data"
    assert run_cli(prepare_proteingym.main, ["--datasets", DMS_ID, "--source", str(folder),
                                             "--reference", str(reference), "--out-dir", str(data)]) == 0
    embeddings = tmp_path / "embeddings" / "DMS_compressed" / "onehot" / DMS_ID
    assert run_cli(extract_cli.main, ["onehot", str(data / "DMS_mut_sequences" / f"{DMS_ID}_muts.fasta"),
                                      str(embeddings), "--pool", "flat", "--quiet"]) == 0
    pkl = embeddings / "embed_layer_0_flat.pkl"
    metadata_path = data / "DMS_metadata" / f"{DMS_ID}_metadata.csv"
    per_fold, scores = tmp_path / "per_fold.csv", tmp_path / "proteingym.csv"
    assert run_cli(reg_lassoCV.main, ["-i", str(pkl), "-m", str(metadata_path), "-o", str(per_fold),
                                      "--cv", "predefined", "--fold-column", "fold_contiguous_5",
                                      "--dataset", DMS_ID, "--embedding-model", "onehot",
                                      "--proteingym", str(scores), "--jobs", "1", "--quiet"]) == 0

    # the folds used are the file's: fold k + 1 tests exactly the rows with fold_contiguous_5 == k
    options = regress.Options(cv="predefined", fold_column="fold_contiguous_5", n_jobs=1)
    results, predictions = regress.run_predictions(pkl, metadata_path, options)
    fold_of_id = dict(zip(f"{DMS_ID}_" + frame["mutant"], frame["fold_contiguous_5"], strict=True))
    assert sorted(predictions["ID"]) == sorted(fold_of_id)
    assert (predictions["Fold"] - 1).tolist() == [fold_of_id[identifier] for identifier in predictions["ID"]]
    per_fold_rows = pd.read_csv(per_fold)
    assert per_fold_rows["Fold"].tolist() == [1, 2, 3, 4, 5]
    assert per_fold_rows["R2_score_test"].tolist() == pytest.approx(results["R2_score_test"].tolist())

    # ProteinGym's layout, with the pooled out-of-fold Spearman and MSE of an independent fit
    written = pd.read_csv(scores)
    assert list(written.columns) == proteingym.SCORE_COLUMNS
    assert written[["model_name", "DMS_id", "fold_variable_name"]].values.tolist() == [
        ["onehot_flat", DMS_ID, "fold_contiguous_5"]]
    vectors = load_compressed(pkl)
    features = np.stack([vectors[f"{DMS_ID}_{mutant}"] for mutant in frame["mutant"]])
    rho, mse = independent_pooled_scores(features, frame["DMS_score"].to_numpy(float),
                                         frame["fold_contiguous_5"].to_numpy())
    assert written["Spearman"][0] == pytest.approx(rho, abs=1e-6)
    assert written["MSE"][0] == pytest.approx(mse, rel=1e-6)


# ----------------------------------------------------------------------------- folds from a column


def test_column_folds_follow_the_column():
    folds = splits.column_folds([3, 0, 1, 0, 3, 1, 1], "fold_x")
    assert [test.tolist() for _, test in folds] == [[1, 3], [2, 5, 6], [0, 4]]
    assert [train.tolist() for train, _ in folds] == [[0, 2, 4, 5, 6], [0, 1, 3, 4], [1, 2, 3, 5, 6]]


@pytest.mark.parametrize(("values", "message"), [
    ([0, 1, None, 2], "fold column 'fold_x': row 3 has no fold number (1 such rows)"),
    ([0, 1, 1.5, 2], "fold column 'fold_x': row 3 holds 1.5, not a whole fold number"),
    ([2, 2, 2], "fold column 'fold_x' holds one fold only (2): nothing to test on"),
])
def test_column_folds_errors(values, message):
    with pytest.raises(UserError) as error:
        splits.column_folds(values, "fold_x")
    assert str(error.value) == message


def synthetic_inputs(tmp_path, n_rows: int = 40):
    """A metadata CSV with a fold column and random embeddings for its IDs."""
    rng = np.random.default_rng(0)
    metadata = pd.DataFrame({"ID": [f"v{i}" for i in range(n_rows)], "target": rng.normal(size=n_rows),
                             "fold_random_5": np.arange(n_rows) % 5})
    metadata_path = tmp_path / "toy_metadata.csv"
    metadata.to_csv(metadata_path, index=False)
    embeddings_path = tmp_path / "embed_layer_1_mean.csv"
    pd.DataFrame(rng.normal(size=(n_rows, 6)), index=metadata["ID"]).rename_axis("ID").to_csv(embeddings_path)
    return metadata_path, embeddings_path


@pytest.mark.parametrize(("flags", "message"), [
    (["--fold-column", "fold_random_5"], "--fold-column fold_random_5 needs --cv predefined (the file's own "
                                          "folds), not --cv random"),
    (["--cv", "predefined", "--fold-column", "fold_modulo_5"],
     "--fold-column fold_modulo_5: no such column in the metadata (columns: ID, target, fold_random_5)"),
])
def test_fold_column_errors(tmp_path, capsys, flags, message):
    metadata_path, embeddings_path = synthetic_inputs(tmp_path)
    code = run_cli(reg_lassoCV.main, ["-i", str(embeddings_path), "-m", str(metadata_path),
                                      "-o", str(tmp_path / "out.csv"), "--quiet", *flags])
    assert code == 2
    assert capsys.readouterr().err.strip().endswith(message)
    assert not (tmp_path / "out.csv").exists()


def test_fold_column_gives_one_row_per_fold_value(tmp_path):
    metadata_path, embeddings_path = synthetic_inputs(tmp_path)
    options = regress.Options(cv="predefined", fold_column="fold_random_5", n_jobs=1)
    results, predictions = regress.run_predictions(embeddings_path, metadata_path, options)
    assert results["Fold"].tolist() == [1, 2, 3, 4, 5]
    assert predictions.groupby("Fold")["ID"].apply(list).tolist() == [
        [f"v{i}" for i in range(fold, 40, 5)] for fold in range(5)]


# ----------------------------------------------------------------------------- bad input


def tiny_assay(**changes) -> pd.DataFrame:
    """Three single mutants of ``MKTAYIAK`` in ProteinGym's format, with ``changes`` applied to columns."""
    frame = pd.DataFrame({"mutant": ["M1A", "K2R", "T3S"],
                          "mutated_sequence": ["AKTAYIAK", "MRTAYIAK", "MKSAYIAK"],
                          "DMS_score": [0.1, -0.4, 1.2], "fold_contiguous_5": [0, 1, 2]})
    for column, values in changes.items():
        frame[column] = values
    return frame


@pytest.mark.parametrize(("changes", "message"), [
    ({"mutated_sequence": ["AKTAYIAK", "MRTAYIAK", "MKSAYIAR"]},
     "row 3 (ID TOY_T3S, mutant 'T3S'): its sequence is not the wild type with its listed substitutions applied"),
    ({"mutant": ["M1A", "K2R", "K2R"]}, "line 4: mutant K2R appears twice"),
    ({"DMS_score": [0.1, None, 1.2]}, "line 3: DMS_score is empty"),
    ({"DMS_score": ["0.1", "high", "1.2"]}, "line 3: DMS_score 'high' is not a number"),
    ({"mutated_sequence": ["AKTAYIAK", "MRTAY*AK", "MKSAYIAK"]}, "line 3: characters '*' are not amino acids"),
    ({"fold_contiguous_5": [0, None, 2]}, "line 3: fold_contiguous_5 is empty"),
    ({"fold_contiguous_5": [0, 1.5, 2]}, "line 3: fold_contiguous_5 '1.5' is not a fold number"),
])
def test_prepare_errors_name_the_line(tmp_path, changes, message):
    folder, reference = write_sources(tmp_path, tiny_assay(**changes), "MKTAYIAK", "TOY")
    with pytest.raises(UserError) as error:
        proteingym.prepare(["TOY"], folder, reference, tmp_path / "data")
    assert message in str(error.value)
    assert not (tmp_path / "data" / "DMS_metadata").exists()


def test_offline_without_sources_is_one_clear_error(tmp_path, capsys):
    code = run_cli(prepare_proteingym.main, ["--datasets", "TOY", "--out-dir", str(tmp_path), "--offline"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "ProteinGym assays: pass --source (offline: the canonical download" in err


def test_unknown_assay_names_the_reference(tmp_path):
    folder, reference = write_sources(tmp_path, tiny_assay(), "MKTAYIAK", "TOY")
    with pytest.raises(UserError, match="no DMS_id NOPE_2020 in the reference"):
        proteingym.prepare(["NOPE_2020"], folder, reference, tmp_path / "data")


def test_supervised_scores_pool_the_folds():
    predictions = pd.DataFrame({"Fold": [1, 1, 2, 2], "target": [1.0, 2.0, 3.0, 4.0],
                                "prediction": [1.5, 1.0, 4.0, 3.5]})
    row = proteingym.supervised_scores(predictions, "m", "D", "fold_random_5")
    assert row == {"model_name": "m", "DMS_id": "D", "fold_variable_name": "fold_random_5",
                   "Spearman": pytest.approx(0.6), "MSE": pytest.approx((0.25 + 1 + 1 + 0.25) / 4)}
