"""Augmented regression: the zero-shot score as one more feature, and Hsu et al.'s one-hot + score."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.linear_model import LassoCV
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import KFold
from sklearn.preprocessing import MinMaxScaler

from plmtransfer.errors import UserError
from plmtransfer.learn import regress
from tests.conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "reg_lassoCV.py"
LETTERS = "ACDEFGHIKLMNPQRSTVWY"


@pytest.fixture
def assay(tmp_path):
    """60 single mutants of a 12-residue protein; 4-dim embeddings; a score that predicts the target."""
    rng = np.random.default_rng(3)
    wildtype = "MKTAYIAKQRQI"
    ids, sequences = [], []
    while len(ids) < 60:
        position, letter = int(rng.integers(12)), LETTERS[int(rng.integers(20))]
        mutant = f"{wildtype[position]}{position + 1}{letter}"
        if letter != wildtype[position] and mutant not in ids:
            ids.append(mutant)
            sequences.append(wildtype[:position] + letter + wildtype[position + 1:])
    embeddings = rng.normal(size=(60, 4))
    score = rng.normal(size=60)
    target = 0.5 * embeddings[:, 0] + 2.0 * score + rng.normal(scale=0.3, size=60)
    metadata = tmp_path / "TOY_metadata.csv"
    pd.DataFrame({"ID": ids, "mutant": ids, "target": target, "sequence": sequences}).to_csv(metadata, index=False)
    with open(tmp_path / "embed_layer_6_mean.pkl", "wb") as handle:
        pickle.dump(dict(zip(ids, embeddings, strict=True)), handle)
    order = rng.permutation(60)  # the scores file lists IDs in another order: the join must use ID
    scores = tmp_path / "scores.csv"
    pd.DataFrame({"ID": np.array(ids)[order], "mutant": np.array(ids)[order], "score": score[order]}).to_csv(
        scores, index=False)
    return {"metadata": metadata, "embeddings": tmp_path / "embed_layer_6_mean.pkl", "scores": scores,
            "X": embeddings, "score": score, "target": target, "sequences": sequences}


def independent_folds(X: np.ndarray, y: np.ndarray) -> pd.DataFrame:
    """The study's protocol written out with scikit-learn alone (global MinMax, KFold, LassoCV)."""
    X = MinMaxScaler().fit_transform(X)
    rows = []
    for train, test in KFold(5, shuffle=True, random_state=42).split(X):
        model = LassoCV(max_iter=1000, tol=1e-2, random_state=42).fit(X[train], y[train])
        predicted = model.predict(X[test])
        rows.append({"R2_score_test": r2_score(y[test], predicted),
                     "MAE_score_test": mean_absolute_error(y[test], predicted),
                     "rho_score_test": spearmanr(y[test], predicted)[0],
                     "R2_score_train": r2_score(y[train], model.predict(X[train])),
                     "alpha": model.alpha_, "num_nonzero_coefs": int(np.sum(model.coef_ != 0))})
    return pd.DataFrame(rows)


def assert_same_folds(results: pd.DataFrame, expected: pd.DataFrame, tolerance: float) -> None:
    for column in expected.columns:
        np.testing.assert_allclose(results[column].to_numpy(dtype=float), expected[column].to_numpy(dtype=float),
                                   rtol=tolerance, atol=tolerance, err_msg=column)


def test_augmented_folds_match_independent_lassocv(assay):
    results = regress.run(assay["embeddings"], assay["metadata"], regress.Options(augment=assay["scores"]))
    expected = independent_folds(np.column_stack([assay["X"], assay["score"]]), assay["target"])
    assert_same_folds(results, expected, 1e-9)
    assert set(results["Compression_method"]) == {"mean+score"}
    plain = regress.run(assay["embeddings"], assay["metadata"])
    assert set(plain["Compression_method"]) == {"mean"}
    assert results["R2_score_test"].mean() > plain["R2_score_test"].mean() + 0.3


def test_onehot_plus_score_matches_independent_lassocv(assay):
    results = regress.run(assay["scores"], assay["metadata"], regress.Options(features="onehot+score"))
    onehot = np.zeros((60, 12, 20), dtype=np.float32)
    for row, sequence in enumerate(assay["sequences"]):
        onehot[row, np.arange(12), [LETTERS.index(letter) for letter in sequence]] = 1
    X = np.column_stack([onehot.reshape(60, -1), assay["score"].astype(np.float32)])
    assert X.dtype == np.float32
    assert_same_folds(results, independent_folds(X, assay["target"]), 1e-4)
    assert set(results["Compression_method"]) == {"onehot+score"}


def test_missing_and_bad_scores_are_checked_like_embeddings(assay, tmp_path):
    scores = pd.read_csv(assay["scores"])
    scores.iloc[1:].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(UserError, match=r"1 of 60 metadata ID\(s\) \(1.67%\) have no score.*--max-missing"):
        regress.run(assay["embeddings"], assay["metadata"], regress.Options(augment=tmp_path / "short.csv"))
    results = regress.run(assay["embeddings"], assay["metadata"],
                          regress.Options(augment=tmp_path / "short.csv", max_missing=0.05))
    assert len(results) == 5
    scores.assign(score=np.where(np.arange(60) == 7, np.nan, scores["score"])).to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(UserError, match=f"score of ID '{scores['ID'][7]}' contains NaN"):
        regress.run(assay["embeddings"], assay["metadata"], regress.Options(augment=tmp_path / "nan.csv"))
    pd.concat([scores, scores.iloc[:1]]).to_csv(tmp_path / "repeated.csv", index=False)
    with pytest.raises(UserError, match="1 repeated ID"):
        regress.run(assay["embeddings"], assay["metadata"], regress.Options(augment=tmp_path / "repeated.csv"))
    scores.drop(columns="score").to_csv(tmp_path / "noscore.csv", index=False)
    with pytest.raises(UserError, match="needs columns 'ID' and 'score'"):
        regress.run(assay["embeddings"], assay["metadata"], regress.Options(augment=tmp_path / "noscore.csv"))


def test_cli_augment_writes_labelled_folds(assay, tmp_path):
    output = tmp_path / "TOY_mean+score.csv"
    result = subprocess.run([sys.executable, str(SCRIPT), "-i", str(assay["embeddings"]), "-m",
                             str(assay["metadata"]), "-o", str(output), "--augment", str(assay["scores"]),
                             "--dataset", "TOY", "--embedding-model", "esm2_8M", "--quiet"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(output)
    assert len(frame) == 5 and set(frame["Compression_method"]) == {"mean+score"}
    expected = independent_folds(np.column_stack([assay["X"], assay["score"]]), assay["target"])
    assert_same_folds(frame, expected, 1e-9)


def test_sampling_curve_takes_the_score_too(assay):
    results = regress.run_sampling(assay["embeddings"], assay["metadata"], regress.Options(augment=assay["scores"]))
    assert sorted(set(results["Sample_size"])) == [32, 60]
    assert set(results["Compression_method"]) == {"mean+score"}
    full = results[results["Sample_size"] == 60].reset_index(drop=True)
    rows = pd.read_csv(assay["metadata"]).sample(n=60, random_state=42).index.to_numpy()
    X = np.column_stack([assay["X"], assay["score"]])[rows]
    assert_same_folds(full, independent_folds(X, assay["target"][rows]), 1e-9)
