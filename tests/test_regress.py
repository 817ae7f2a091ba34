"""The regression stage: the study's protocol against an independent re-implementation, the
learning-curve sizes, the CV options, the CLIs and every input error."""

from __future__ import annotations

import importlib
import itertools
import pickle
import tracemalloc
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn import metrics
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LassoCV, RidgeCV, lasso_path
from sklearn.model_selection import KFold
from sklearn.preprocessing import MinMaxScaler

from plmtransfer.cli.common import run_cli
from plmtransfer.data.sequences import onehot_encode
from plmtransfer.embed.methods import compress_protein
from plmtransfer.errors import UserError
from plmtransfer.io import load_compressed, save_compressed
from plmtransfer.learn import coordinate_descent, lasso, regress

METRIC_COLUMNS = ["R2_score_train", "MAE_score_train", "RMSE_score_train", "R2_score_test",
                  "MAE_score_test", "RMSE_score_test", "rho_score_train", "rho_score_test"]


def load_script(name: str):
    """The stage module behind ``scripts/<name>.py`` (:mod:`plmtransfer.cli`)."""
    return importlib.import_module(f"plmtransfer.cli.{name}")


def make_data(n_rows: int, n_varying: int, n_constant: int, seed: int = 0):
    """Metadata (with the study's unnamed index column) and float32 vectors with constant columns."""
    rng = np.random.default_rng(seed)
    varying = rng.random((n_rows, n_varying)).astype(np.float32)
    constant = np.full((n_rows, n_constant), 0.37, dtype=np.float32)
    features = np.concatenate([constant[:, : n_constant // 2], varying,
                               constant[:, n_constant // 2:]], axis=1)
    weights = np.zeros(n_varying)
    planted = [3.0, -2.0, 1.5, 1.0][:n_varying]
    weights[: len(planted)] = planted
    target = varying @ weights + rng.normal(0, 0.5, n_rows)
    ids = [f"V{index}" for index in range(n_rows)]
    metadata = pd.DataFrame({"ID": ids, "mutant": [f"A{index + 1}C" for index in range(n_rows)],
                             "target": target})
    return metadata, dict(zip(ids, features, strict=True))


def write_inputs(tmp_path, metadata, vectors, name="embed_layer_6_mean.pkl"):
    """Write the metadata CSV (with an index column, as the study's) and the embeddings."""
    metadata_path = tmp_path / "meta.csv"
    metadata.to_csv(metadata_path)
    embeddings_path = save_compressed(vectors, tmp_path / name)
    return embeddings_path, metadata_path


def study_reference(embeddings_path, metadata_path, scaling="global"):
    """An independent implementation following the study's script: pandas merge, LassoCV."""
    meta = pd.read_csv(metadata_path)
    with open(embeddings_path, "rb") as handle:
        embed = pickle.load(handle)
    embed_df = pd.DataFrame.from_dict(embed).T.reset_index().rename(columns={"index": "ID"})
    data = meta.merge(embed_df, how="inner", left_on="ID", right_on="ID")
    target = data["target"]
    features = data.iloc[:, meta.shape[1]:]
    if scaling == "global":
        features = pd.DataFrame(MinMaxScaler(feature_range=(0, 1)).fit_transform(features))
    rows = []
    for fold, (train, test) in enumerate(KFold(5, shuffle=True, random_state=42).split(features)):
        X_train, X_test = features.iloc[train], features.iloc[test]
        if scaling == "fold":
            scaler = MinMaxScaler().fit(X_train)
            X_train, X_test = pd.DataFrame(scaler.transform(X_train)), pd.DataFrame(scaler.transform(X_test))
        y_train, y_test = target.iloc[train], target.iloc[test]
        model = LassoCV(max_iter=1000, tol=1e-2, random_state=42).fit(X_train, y_train)
        row = {"Fold": fold + 1, "num_nonzero_coefs": int(np.sum(model.coef_ != 0)),
               "alpha": model.alpha_}
        for part, X, y in (("train", X_train, y_train), ("test", X_test, y_test)):
            prediction = pd.DataFrame(model.predict(X))
            row[f"R2_score_{part}"] = metrics.r2_score(y, prediction)
            row[f"MAE_score_{part}"] = metrics.mean_absolute_error(y, prediction)
            row[f"RMSE_score_{part}"] = np.sqrt(metrics.mean_squared_error(y, prediction))
            row[f"rho_score_{part}"] = spearmanr(y, prediction)[0]
        rows.append(row)
    return pd.DataFrame(rows)


def assert_same_metrics(ours: pd.DataFrame, reference: pd.DataFrame, atol: float = 1e-6):
    """Per-fold metrics equal to ``atol``; coefficient counts equal; alphas equal to 1e-6 relative."""
    for column in METRIC_COLUMNS:
        np.testing.assert_allclose(ours[column], reference[column], atol=atol, rtol=0, err_msg=column)
    np.testing.assert_array_equal(ours["num_nonzero_coefs"], reference["num_nonzero_coefs"])
    np.testing.assert_allclose(ours["alpha"], reference["alpha"], rtol=1e-6)


@pytest.mark.parametrize(("n_rows", "n_varying", "n_constant"), [
    (150, 12, 4),    # more samples than features: the Gram-matrix path
    (70, 60, 40),    # more features than samples, many constant columns (dropped by ours)
])
def test_protocol_matches_independent_study_implementation(tmp_path, n_rows, n_varying, n_constant):
    metadata, vectors = make_data(n_rows, n_varying, n_constant)
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    ours = regress.run(embeddings_path, metadata_path, regress.Options(n_jobs=1))
    reference = study_reference(embeddings_path, metadata_path)
    assert list(ours["Fold"]) == [1, 2, 3, 4, 5]
    assert ours["R2_score_test"].mean() > 0.3  # the planted signal is found
    assert_same_metrics(ours, reference)
    assert set(ours["Compression_method"]) == {"mean"}
    assert list(ours.columns[: len(regress.RESULT_COLUMNS)]) == regress.RESULT_COLUMNS


def test_constant_columns_get_no_weight_on_onehot_features(tmp_path):
    """One-hot flat features of single mutants: most columns constant; same answer as the study."""
    rng = np.random.default_rng(1)
    wild_type = "".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 30))
    sequences, mutants = [], []
    for _ in range(90):
        position = int(rng.integers(0, 12))
        letter = "ACDEFGHIKLMNPQRSTVWY"[int(rng.integers(0, 20))]
        sequences.append(wild_type[:position] + letter + wild_type[position + 1:])
        mutants.append(f"{wild_type[position]}{position + 1}{letter}")
    vectors = {f"V{index}": compress_protein(onehot_encode(sequence), None, ["flat"])["flat"]
               for index, sequence in enumerate(sequences)}
    hydrophobic = np.array([sequence[:12].count("L") + sequence[:12].count("I") for sequence in sequences])
    metadata = pd.DataFrame({"ID": list(vectors), "mutant": mutants,
                             "target": hydrophobic + rng.normal(0, 0.3, 90)})
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors, "embed_onehot_flat.pkl")
    ours = regress.run(embeddings_path, metadata_path, regress.Options(n_jobs=1))
    assert_same_metrics(ours, study_reference(embeddings_path, metadata_path))
    assert set(ours["Compression_method"]) == {"flat"}


def test_fold_scaling_matches_reference(tmp_path):
    metadata, vectors = make_data(100, 10, 2, seed=3)
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    ours = regress.run(embeddings_path, metadata_path, regress.Options(scaling="fold", n_jobs=1))
    assert_same_metrics(ours, study_reference(embeddings_path, metadata_path, scaling="fold"))


def test_npz_and_pkl_give_identical_results(tmp_path):
    metadata, vectors = make_data(60, 8, 0, seed=4)
    pkl_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    npz_path = save_compressed(vectors, tmp_path / "embed_layer_6_mean.npz")
    from_pkl = regress.run(pkl_path, metadata_path, regress.Options(n_jobs=1))
    from_npz = regress.run(npz_path, metadata_path, regress.Options(n_jobs=1))
    pd.testing.assert_frame_equal(from_pkl.drop(columns="fit_seconds"),
                                  from_npz.drop(columns="fit_seconds"))


def test_ridgecv_matches_direct_sklearn(tmp_path):
    metadata, vectors = make_data(80, 6, 0, seed=5)
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    ours = regress.run(embeddings_path, metadata_path, regress.Options(regressor="ridgecv"))
    features = MinMaxScaler().fit_transform(np.stack(list(vectors.values())))
    target = metadata["target"].to_numpy()
    train, test = next(KFold(5, shuffle=True, random_state=42).split(features))
    model = RidgeCV(alphas=regress.RIDGE_ALPHAS, cv=KFold(5)).fit(features[train], target[train])
    assert ours["Model"][0] == "Ridge"
    assert ours["R2_score_test"][0] == pytest.approx(
        metrics.r2_score(target[test], model.predict(features[test])), abs=1e-6)
    assert ours["num_nonzero_coefs"][0] == 6


@pytest.mark.parametrize(("n_rows", "n_features"), [(200, 40), (150, 300)],
                         ids=["more rows than features (Gram)", "more features than rows"])
def test_fast_stays_close_to_the_exact_protocol(tmp_path, n_rows, n_features):
    metadata, vectors = make_data(n_rows, n_features, 0, seed=6)
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    exact = regress.run(embeddings_path, metadata_path, regress.Options(n_jobs=1))
    fast = regress.run(embeddings_path, metadata_path, regress.Options(solver="fast", n_jobs=1))
    assert np.abs(exact["R2_score_test"] - fast["R2_score_test"]).max() <= 0.005
    np.testing.assert_allclose(fast["alpha"], exact["alpha"], rtol=1e-6)


def test_fast_gives_the_same_results_in_threads(tmp_path):
    metadata, vectors = make_data(200, 40, 0, seed=6)
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    one_thread = regress.run(embeddings_path, metadata_path, regress.Options(solver="fast", n_jobs=1))
    threads = regress.run(embeddings_path, metadata_path, regress.Options(solver="fast", n_jobs=3))
    assert one_thread["Fold"].tolist() == [1, 2, 3, 4, 5]
    pd.testing.assert_frame_equal(one_thread.drop(columns="fit_seconds"), threads.drop(columns="fit_seconds"))


def test_inner_training_grams_equal_the_centred_products():
    X = np.random.default_rng(3).random((53, 7))
    folds = list(KFold(5).split(X))
    for (train, _), gram in zip(folds, lasso.inner_training_grams(X, folds), strict=True):
        centred = X[train] - X[train].mean(axis=0)
        np.testing.assert_allclose(gram, centred.T @ centred, rtol=1e-10, atol=1e-12)


def test_inner_training_grams_hold_at_most_one_gram_more_than_they_return():
    X = np.asfortranarray(np.random.default_rng(4).random((100, 400)))
    folds = list(KFold(5).split(X))
    gram_bytes = X.shape[1] ** 2 * X.itemsize
    tracemalloc.start()
    try:
        grams = lasso.inner_training_grams(X, folds)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(grams) == 5
    # six Grams (the five parts and their sum) and row blocks; making each step a new array needs 13
    assert peak < 6.5 * gram_bytes, peak / gram_bytes
    for (train, _), gram in zip(folds, grams, strict=True):
        centred = X[train] - X[train].mean(axis=0)
        np.testing.assert_allclose(gram, centred.T @ centred, rtol=1e-10, atol=1e-10)


def test_inner_training_grams_need_a_partition():
    X = np.ones((10, 2))
    with pytest.raises(ValueError, match="partition"):
        lasso.inner_training_grams(X, [(np.arange(5, 10), np.arange(0, 4))])


@pytest.mark.parametrize("rows", [np.arange(10, 20), np.r_[0:5, 30:50], np.array([3, 1, 4, 1, 5, 9, 2, 6]),
                                  np.arange(0), np.arange(0, 50, 2)],
                         ids=["one run", "two runs", "shuffled", "empty", "strided"])
def test_rows_of_copies_rows_column_major(rows):
    X = np.asfortranarray(np.random.default_rng(4).random((50, 6)))
    selected = lasso.rows_of(X, rows)
    np.testing.assert_array_equal(selected, X[rows])
    assert selected.flags["F_CONTIGUOUS"]
    assert not np.shares_memory(selected, X)


def lasso_duality_gap(X: np.ndarray, y: np.ndarray, coef: np.ndarray, l1_penalty: float) -> float:
    """The lasso's duality gap (scikit-learn's formulation A), computed directly in float64."""
    X, y = X.astype(np.float64), y.astype(np.float64)
    residual = y - X @ coef
    dual_norm = np.max(np.abs(X.T @ residual))
    scale = min(1.0, l1_penalty / dual_norm)
    primal = 0.5 * residual @ residual + l1_penalty * np.abs(coef).sum()
    return primal - (scale * residual @ y - 0.5 * scale ** 2 * residual @ residual)


@pytest.mark.parametrize("n_rows, n_features, dtype", [(60, 150, np.float32), (300, 40, np.float64),
                                                       (300, 40, np.float32)],
                         ids=["fewer rows than columns", "Gram matrix", "Gram matrix float32"])
def test_inner_walk_meets_the_studys_duality_gap_at_every_alpha(n_rows, n_features, dtype):
    """Every coefficient vector of the walk (in chunks, warm-started) is a lasso solution to
    LassoCV's tolerance: duality gap <= tol * ‖y‖² at its alpha, checked from the data directly."""
    rng = np.random.default_rng(6)
    X = np.asfortranarray(rng.random((n_rows, n_features)).astype(dtype))
    y = X[:, :5] @ rng.normal(size=5) + rng.normal(scale=0.3, size=n_rows)
    folds = list(KFold(5).split(X))
    grams = lasso.inner_training_grams(X, folds) if n_rows > n_features else [None] * 5
    alphas = lasso.study_alpha_grid(X, y)
    for (train, test), gram in zip(folds, grams, strict=True):
        fold = lasso.InnerFold.make(X, y, train, test, gram)
        fold.walk(alphas[:11], regress.TOL, regress.MAX_ITER)
        fold.walk(alphas[11:60], regress.TOL, regress.MAX_ITER)
        coefs = np.hstack(fold.walked)
        assert coefs.shape == (n_features, 60)
        assert np.count_nonzero(coefs[:, 0]) == 0 < np.count_nonzero(coefs[:, -1])
        y_norm2 = float(fold.y_centred.astype(np.float64) @ fold.y_centred)
        X_centred = X[train] - np.average(X[train], axis=0)
        gaps = [lasso_duality_gap(X_centred, fold.y_centred, coef, alpha * len(train))
                for coef, alpha in zip(coefs.T, alphas[:60], strict=True)]
        assert max(gaps) <= regress.TOL * y_norm2 * (1 + 1e-4)


@pytest.mark.parametrize("n_rows, n_features", [(60, 150), (300, 40)])
def test_coordinate_descent_converges_to_lasso_path_at_a_tight_tolerance(n_rows, n_features):
    """Data and Gram walks both reach scikit-learn's exact lasso solutions when asked to (tol=1e-12)."""
    rng = np.random.default_rng(7)
    X = rng.random((n_rows, n_features))
    X = np.asfortranarray(X - X.mean(axis=0))
    y = X[:, :5] @ rng.normal(size=5) + rng.normal(scale=0.3, size=n_rows)
    y -= y.mean()
    alphas = lasso.study_alpha_grid(X, y)[:40]
    expected = lasso_path(X, y, alphas=alphas, tol=1e-12, max_iter=100_000)[1]
    data_path, data_unconverged = coordinate_descent.walk_data(
        X, y, np.einsum("ij,ij->j", X, X), np.zeros(n_features), alphas * n_rows, 1e-12, 100_000)
    gram_path, gram_unconverged = coordinate_descent.walk_gram(
        np.ascontiguousarray(X.T @ X), X.T @ y, float(y @ y), np.zeros(n_features), alphas * n_rows, 1e-12, 100_000)
    assert data_unconverged == gram_unconverged == 0
    np.testing.assert_allclose(data_path, expected, atol=1e-7)
    np.testing.assert_allclose(gram_path, expected, atol=1e-7)


def test_coordinate_descent_skips_all_zero_columns():
    rng = np.random.default_rng(8)
    X = np.asfortranarray(rng.random((50, 6)))
    X[:, 2] = 0.0
    X -= X.mean(axis=0)
    y = X @ np.array([1.0, -2.0, 0.0, 0.5, 0.0, 3.0]) + rng.normal(scale=0.1, size=50)
    y -= y.mean()
    path, unconverged = coordinate_descent.walk_data(X, y, np.einsum("ij,ij->j", X, X), np.zeros(6),
                                                     np.array([1e-3, 1e-4]) * 50, 1e-8, 1000)
    assert unconverged == 0
    assert np.all(path[2] == 0.0)
    assert np.all(np.isfinite(path))


def test_test_mse_evaluates_repeated_columns_once_with_the_same_values():
    rng = np.random.default_rng(5)
    X, y = rng.random((40, 6)), rng.random(40)
    fold = lasso.InnerFold.make(X, y, np.arange(10, 40), np.arange(10), None)
    column = rng.random(6)
    column[1] = 0.0
    coefs = np.column_stack([column, column, rng.random(6), column, np.zeros(6)])
    coefs[3] = 0.0  # a feature that is zero in every column
    intercepts = fold.y_mean - fold.X_mean @ coefs
    expected = ((X[:10] @ coefs + intercepts - y[:10, np.newaxis]) ** 2).mean(axis=0)
    np.testing.assert_allclose(fold.test_mse(coefs), expected, rtol=1e-12)


def test_constant_predictions_give_nan_rho_without_a_warning(recwarn):
    scores = regress.score(np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.5, 0.5]))
    assert np.isnan(scores["rho"])
    assert scores["R2"] == pytest.approx(metrics.r2_score([1.0, 2.0, 3.0], [0.5, 0.5, 0.5]))
    assert len(recwarn) == 0


@pytest.mark.parametrize("y_true, y_pred", [
    (np.random.default_rng(3).normal(size=50), np.random.default_rng(4).normal(size=50).astype(np.float32)),
    (np.full(6, 2.0), np.full(6, 2.0)),
    (np.full(6, 2.0), np.arange(6.0)),
])
def test_scores_equal_scikit_learn_and_scipy(y_true, y_pred):
    scores = regress.score(y_true, y_pred)
    assert scores["R2"] == pytest.approx(metrics.r2_score(y_true, y_pred), abs=1e-12)
    assert scores["MAE"] == pytest.approx(metrics.mean_absolute_error(y_true, y_pred), abs=1e-12)
    assert scores["RMSE"] == pytest.approx(np.sqrt(metrics.mean_squared_error(y_true, y_pred)), abs=1e-12)
    if np.ptp(y_true) and np.ptp(y_pred):
        assert scores["rho"] == pytest.approx(spearmanr(y_true, y_pred)[0], abs=1e-12)


def test_position_cv_leaves_out_multi_mutants(tmp_path, capsys):
    metadata, vectors = make_data(60, 6, 0, seed=7)
    metadata.loc[:3, "mutant"] = "A1C:D2E"
    metadata.loc[4, "mutant"] = "WT"
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    results = regress.run(embeddings_path, metadata_path, regress.Options(cv="contiguous", n_jobs=1))
    assert len(results) == 5
    errors = capsys.readouterr().err
    assert "4 multi-mutant row(s) left out" in errors
    assert "1 row(s) without a substitution position (e.g. 'WT')" in errors
    # positions 6..60 in 5 blocks of 11 positions (one variant each): 11 test rows per fold
    metadata_singles = metadata.iloc[5:].reset_index(drop=True)
    features = MinMaxScaler().fit_transform(np.stack([vectors[i] for i in metadata_singles["ID"]]))
    target = metadata_singles["target"].to_numpy()
    test = np.arange(11)
    model = LassoCV(max_iter=1000, tol=1e-2).fit(features[11:], target[11:])
    assert results["R2_score_test"][0] == pytest.approx(
        metrics.r2_score(target[test], model.predict(features[test])), abs=1e-6)


def test_predefined_split_on_flip_gb1(mirror, tmp_path):
    """FLIP GB1 three_vs_rest: a set column (train/test); rows get IDs; one fold."""
    frame = pd.read_csv(mirror / "flip_gb1" / "three_vs_rest.csv.gz")
    frame = pd.concat([frame[frame["set"] == "train"].head(150), frame[frame["set"] == "test"].head(100)])
    frame = frame.reset_index(drop=True).assign(ID=lambda f: [f"gb1_{i}" for i in range(len(f))])
    vectors = {label: compress_protein(onehot_encode(sequence), None, ["flat"])["flat"]
               for label, sequence in zip(frame["ID"], frame["sequence"], strict=True)}
    metadata_path = tmp_path / "gb1.csv"
    frame[["ID", "target", "set", "validation"]].to_csv(metadata_path, index=False)
    embeddings_path = save_compressed(vectors, tmp_path / "gb1_onehot_flat.npz")
    results = regress.run(embeddings_path, metadata_path, regress.Options(cv="predefined"))
    features = MinMaxScaler().fit_transform(np.stack(list(vectors.values())))
    target = frame["target"].to_numpy()
    model = LassoCV(max_iter=1000, tol=1e-2).fit(features[:150], target[:150])
    assert len(results) == 1
    assert results["R2_score_test"][0] == pytest.approx(
        metrics.r2_score(target[150:], model.predict(features[150:])), abs=1e-6)
    assert results["num_nonzero_coefs"][0] == np.sum(model.coef_ != 0)


def study_sizes(n_rows):
    """The study script's own condition for which sample sizes run (written independently)."""
    sizes, chosen = list(regress.STUDY_SAMPLE_SIZES), []
    for index, size in enumerate(sizes):
        if size <= n_rows or (sizes[index - 1] < n_rows and sizes[index + 1] > n_rows):
            chosen.append(min(size, n_rows))
    return chosen


@pytest.mark.parametrize("n_rows", [33, 100, 101, 500, 1000, 9193, 150000])
def test_sample_sizes_match_the_study(n_rows):
    assert regress.sample_sizes(n_rows) == study_sizes(n_rows)


def test_sample_sizes_examples():
    assert regress.sample_sizes(500) == [32, 100, 320, 500]
    assert regress.sample_sizes(1000) == [32, 100, 320, 1000]
    assert regress.sample_sizes(20) == [20]


def test_sampling_runs_each_size_on_a_seeded_sample(tmp_path):
    metadata, vectors = make_data(120, 5, 0, seed=8)
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    results = regress.run_sampling(embeddings_path, metadata_path, regress.Options(n_jobs=1))
    assert list(results.groupby("Sample_size").size().items()) == [(32, 5), (100, 5), (120, 5)]
    sampled = metadata.sample(n=32, random_state=42)
    features = MinMaxScaler().fit_transform(np.stack([vectors[i] for i in sampled["ID"]]))
    target = sampled["target"].to_numpy()
    train, test = next(KFold(5, shuffle=True, random_state=42).split(features))
    model = LassoCV(max_iter=1000, tol=1e-2).fit(features[train], target[train])
    assert results["R2_score_test"][0] == pytest.approx(
        metrics.r2_score(target[test], model.predict(features[test])), abs=1e-6)


def test_cli_writes_labelled_results(tmp_path):
    metadata, vectors = make_data(50, 5, 0, seed=9)
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    output = tmp_path / "out" / "res.csv"
    code = run_cli(load_script("reg_lassoCV").main, ["-i", str(embeddings_path), "-m", str(metadata_path),
                                                    "-o", str(output), "--dataset", "TOY",
                                                    "--embedding-model", "esm2_8M", "--quiet", "-j", "1"])
    assert code == 0
    written = pd.read_csv(output)
    assert list(written["Dataset"].unique()) == ["TOY"]
    assert list(written["Embedding_model"].unique()) == ["esm2_8M"]
    assert list(written["Compression_method"].unique()) == ["mean"]
    assert len(written) == 5


def test_position_cv_on_a_multi_mutant_assay_writes_no_folds(tmp_path, capsys):
    metadata, vectors = make_data(40, 5, 0, seed=2)
    metadata["mutant"] = [f"A{i + 1}C:D{i + 2}E" for i in range(37)] + ["A1C", "D2E", "F3G"]
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    output = tmp_path / "out.csv"
    argv = ["-i", str(embeddings_path), "-m", str(metadata_path), "-o", str(output), "--cv", "contiguous",
            "--dataset", "MULTI", "--embedding-model", "m"]
    assert run_cli(load_script("reg_lassoCV").main, argv) == 0
    captured = capsys.readouterr()
    assert "--cv contiguous is not defined for this data set: 3 single-substitution row(s) of 40; " \
           "no folds written" in captured.err
    assert f"no folds -> {output}" in captured.out
    written = pd.read_csv(output)
    assert written.empty and {"R2_score_test", "Dataset", "Compression_method"} <= set(written.columns)
    # the same data under random CV is regressed as usual; stats reads the empty file as no rows
    random = tmp_path / "random" / "m" / "MULTI_mean.csv"
    random.parent.mkdir(parents=True)
    argv[argv.index("-o") + 1] = str(random)
    assert run_cli(load_script("reg_lassoCV").main, [*argv[:-6], "--dataset", "MULTI", "--embedding-model", "m",
                                                    "--quiet"]) == 0
    (random.parent / "MULTI_bos.csv").write_text(output.read_text())
    from plmtransfer.analysis import stats

    collected = stats.collect_results(tmp_path / "random", tmp_path)
    assert len(collected) == 5 and set(collected["Compression_method"]) == {"mean"}


def run_expecting_error(tmp_path, capsys, metadata, vectors, message, extra=()):
    """Run the CLI on bad inputs: exit 2, one stderr line containing ``message``, no output file."""
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    output = tmp_path / "out.csv"
    code = run_cli(load_script("reg_lassoCV").main, ["-i", str(embeddings_path), "-m", str(metadata_path),
                                                    "-o", str(output), "--quiet", *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not output.exists()


def test_error_too_many_missing_ids(tmp_path, capsys):
    metadata, vectors = make_data(50, 5, 0)
    for label in ("V1", "V2"):
        del vectors[label]
    run_expecting_error(tmp_path, capsys, metadata, vectors, "2 of 50 metadata ID(s) (4.00%) have no embedding")


def test_missing_ids_within_the_limit_are_reported_and_left_out(tmp_path, capsys):
    metadata, vectors = make_data(50, 5, 0)
    del vectors["V3"]
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    regress.run(embeddings_path, metadata_path, regress.Options(max_missing=0.05, n_jobs=1))
    assert "1 of 50 metadata ID(s)" in capsys.readouterr().err


def test_error_repeated_metadata_ids(tmp_path, capsys):
    metadata, vectors = make_data(30, 5, 0)
    metadata.loc[4, "ID"] = "V3"
    run_expecting_error(tmp_path, capsys, metadata, vectors, "1 repeated ID(s) in the metadata, e.g. ['V3']")


def test_error_repeated_embedding_ids_in_csv(tmp_path):
    metadata, vectors = make_data(30, 3, 0)
    frame = pd.DataFrame(np.stack(list(vectors.values())), columns=["a", "b", "c"])
    frame.insert(0, "ID", list(vectors))
    frame.loc[2, "ID"] = "V1"
    path = tmp_path / "embed_mean.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(UserError, match=r"1 repeated ID\(s\) in the embeddings, e.g. \['V1'\]"):
        load_compressed(path)


def test_non_numeric_targets_are_dropped_with_a_count(tmp_path, capsys):
    metadata, vectors = make_data(40, 5, 0)
    metadata["target"] = metadata["target"].astype(object)
    metadata.loc[[0, 1], "target"] = "n/a"
    metadata.loc[2, "target"] = np.nan
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    results = regress.run(embeddings_path, metadata_path, regress.Options(n_jobs=1))
    assert "dropped 3 row(s) with a non-numeric or missing target" in capsys.readouterr().err
    assert len(results) == 5


def test_error_too_few_rows(tmp_path, capsys):
    metadata, vectors = make_data(12, 3, 0)
    metadata.loc[:3, "target"] = np.nan
    run_expecting_error(tmp_path, capsys, metadata, vectors, "only 8 row(s) with a usable target")


def test_error_constant_target(tmp_path, capsys):
    metadata, vectors = make_data(20, 3, 0)
    metadata["target"] = 1.5
    run_expecting_error(tmp_path, capsys, metadata, vectors, "the target is constant")


def test_error_unequal_vector_lengths(tmp_path, capsys):
    metadata, vectors = make_data(20, 3, 0)
    vectors["V7"] = vectors["V7"][:2]
    run_expecting_error(tmp_path, capsys, metadata, vectors, "embedding of ID 'V7' has shape (2,)")


def test_error_nan_in_a_vector(tmp_path, capsys):
    metadata, vectors = make_data(20, 3, 0)
    vectors["V5"] = vectors["V5"].copy()
    vectors["V5"][1] = np.nan
    run_expecting_error(tmp_path, capsys, metadata, vectors, "embedding of ID 'V5' contains NaN")


def test_error_position_cv_without_mutant_column(tmp_path, capsys):
    metadata, vectors = make_data(20, 3, 0)
    run_expecting_error(tmp_path, capsys, metadata.drop(columns="mutant"), vectors,
                        "--cv modulo needs a 'mutant' column", ["--cv", "modulo"])


def test_method_parsed_from_file_name():
    assert regress.method_from_path("a_b/embed_layer_30_mean.pkl") == "mean"
    assert regress.method_from_path("embed_layer_6_pca1.npz") == "pca1"


def test_fast_searches_the_studys_alpha_grid():
    metadata, vectors = make_data(120, 30, 0, seed=10)
    X = MinMaxScaler().fit_transform(np.stack(list(vectors.values())))
    y = metadata["target"].to_numpy()
    study = LassoCV(max_iter=1000, tol=1e-2).fit(X, y)
    grid = lasso.study_alpha_grid(X, y)
    np.testing.assert_array_equal(grid, study.alphas_)
    fast = regress.study_compiled_lassocv().fit(X, y)
    assert np.min(np.abs(grid - fast.alpha_) / grid) < 1e-9
    grid_step = np.log(grid[0] / grid[1])
    # the CV curve is flat near its minimum: warm starts at tol=1e-2 may shift the choice a few steps
    assert abs(np.log(fast.alpha_ / study.alpha_)) <= 4 * grid_step + 1e-9


def test_fast_walks_the_studys_own_curve():
    """Without Gram matrices (fewer rows than columns) the walked part of --fast's CV curve is
    LassoCV's mse_path_ up to the solver's tolerance, and its argmin is LassoCV's alpha."""
    metadata, vectors = make_data(90, 120, 0, seed=12)
    X = np.asfortranarray(MinMaxScaler().fit_transform(np.stack(list(vectors.values()))).astype(np.float32))
    y = metadata["target"].to_numpy()
    walked = []
    original = lasso.InnerFold.walk

    def recording(fold, alphas, tol, max_iter):
        walked.append((id(fold), original(fold, alphas, tol, max_iter)))
        return walked[-1][1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(lasso.InnerFold, "walk", recording)
        study = LassoCV(max_iter=1000, tol=1e-2, random_state=42, n_jobs=1).fit(X, y)
        fast = regress.study_compiled_lassocv().fit(X, y)
    folds = list(dict.fromkeys(key for key, _ in walked))
    assert len(folds) == 5
    for column, key in enumerate(folds):
        curve = np.concatenate([mse for fold, mse in walked if fold == key])
        assert len(curve) >= 11
        np.testing.assert_allclose(curve, study.mse_path_[:len(curve), column], rtol=1e-2)
    assert fast.alpha_ == study.alpha_


def test_fast_walk_does_not_stop_on_a_curve_flat_at_the_null_model():
    flat_then_falling = np.concatenate([np.full(15, 1.0), np.linspace(0.99999, 0.5, 10), np.linspace(0.5, 0.9, 75)])
    flat_then_falling[3] = 0.999999  # a negligible dip near the null model
    shipped = regress.study_compiled_lassocv()
    rule = (shipped.patience, shipped.null_margin)
    assert not lasso.walk_finished(flat_then_falling[:15], 14, *rule)
    assert lasso.walk_finished(flat_then_falling[:15], 14, shipped.patience, null_margin=None)
    assert lasso.walk_finished(flat_then_falling[:36], 35, *rule)
    clear_minimum = np.concatenate([np.linspace(1.0, 0.5, 10), np.linspace(0.5, 0.9, 90)])
    assert lasso.walk_finished(clear_minimum[:20], 19, *rule)
    assert not lasso.walk_finished(clear_minimum[:19], 18, *rule)


def test_error_fast_with_another_regressor(tmp_path, capsys):
    metadata, vectors = make_data(20, 3, 0)
    run_expecting_error(tmp_path, capsys, metadata, vectors, "--solver fast applies to --regressor lassocv only",
                        ["--solver", "fast", "--regressor", "ridgecv"])


def test_method_is_read_whole_from_the_compressed_file_name():
    assert regress.method_from_path("emb/embed_layer_30_mean.pkl") == "mean"
    assert regress.method_from_path("emb/embed_layer_4_h_final.npz") == "h_final"
    assert regress.method_from_path("x/embed_layer_4_fusion.pkl") == "fusion"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_refit_convergence_agrees_with_the_solvers_own_warning(dtype):
    """`refit_converged` says what scikit-learn's warning says, including fits stopped at max_iter."""
    rng = np.random.default_rng(0)
    X = rng.random((120, 300)).astype(dtype)
    y = X[:, :5] @ [3.0, -2.0, 1.0, 1.0, 2.0] + rng.normal(0, 0.5, 120)
    verdicts = []
    for alpha, max_iter in itertools.product(np.geomspace(1e-5, 1e-1, 9), (5, 50, 1000)):
        model = Lasso(alpha=alpha, max_iter=max_iter, tol=1e-2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X, y)
        warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
        verdicts.append((regress.refit_converged(model, y), not warned))
    assert all(ours == solver for ours, solver in verdicts)
    assert {solver for _, solver in verdicts} == {True, False}  # both cases occur
    assert regress.refit_converged(RidgeCV().fit(X, y), y)


def test_convergence_warnings_become_one_line_per_input_file(tmp_path, capsys, monkeypatch):
    """At max_iter=1 many coordinate-descent fits stop early: their warnings are counted (as an
    independent LassoCV with the same settings raises them), not printed one by one."""
    monkeypatch.setattr(regress, "MAX_ITER", 1)
    metadata, vectors = make_data(150, 30, 0)
    embeddings_path, metadata_path = write_inputs(tmp_path, metadata, vectors)
    results = regress.run(embeddings_path, metadata_path, regress.Options(n_jobs=1))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "Objective did not converge" not in lines[0]
    features = regress.scale(np.stack(list(vectors.values())))
    target = metadata["target"].to_numpy()
    warned = 0
    for train, _ in KFold(5, shuffle=True, random_state=42).split(features):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            LassoCV(max_iter=1, tol=1e-2, random_state=42).fit(features[train], target[train])
        warned += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    refits_converged = int(results[regress.CONVERGED].sum())
    assert results[regress.CONVERGED].dtype == bool
    assert (f": {warned - (5 - refits_converged)} of 2500 coordinate-descent fits along the alpha path stopped "
            f"at max_iter=1 before the duality gap reached tol=0.01") in lines[0]
    assert f"the refit at the chosen alpha converged in {refits_converged} of 5 outer folds" in lines[0]
    assert warned > 50


def test_other_warnings_pass_through_the_convergence_count():
    convergence = regress.Convergence()
    with pytest.warns(RuntimeWarning, match="kept"), convergence.counting():
        warnings.warn("kept", RuntimeWarning, stacklevel=1)
        warnings.warn("Objective did not converge", ConvergenceWarning, stacklevel=1)
        warnings.warn("coordinate descent did not reach tol=0.01 within 1000 epochs at 7 alpha(s) of an inner fold",
                      ConvergenceWarning, stacklevel=1)
    assert convergence.stopped == 8
    assert convergence.summary("x") is not None and regress.Convergence().summary("x") is None
