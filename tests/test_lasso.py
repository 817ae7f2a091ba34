"""The compiled LassoCV search (:class:`plmtransfer.learn.lasso.CompiledLassoCV`): scikit-learn's
estimator conventions, and the answer it gives on fixed problems."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LassoCV
from sklearn.utils._param_validation import InvalidParameterError

from plmtransfer.learn import regress
from plmtransfer.learn.lasso import CompiledLassoCV

STUDY = {"cv": 5, "max_iter": 1000, "tol": 1e-2, "random_state": 42}
PINNED_INDEX, PINNED_NONZERO, PINNED_INTERCEPT = 49, 48, 0.7706167697906494
"""``fit_fast_lasso``'s answer on :func:`test_the_study_settings_give_the_pinned_answer`'s problem."""


def problem(n_rows: int = 120, n_features: int = 30, seed: int = 0, dtype=np.float64):
    """A sparse linear problem with noise: five informative columns of ``n_features``."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_rows, n_features)).astype(dtype)
    y = X[:, :5] @ np.array([2.0, -1.5, 1.0, 0.5, -0.8]) + rng.normal(scale=0.3, size=n_rows)
    return X, y


def test_params_round_trip_through_get_set_and_clone():
    estimator = CompiledLassoCV(tol=1e-2, patience=7, null_margin=None)
    params = estimator.get_params()
    assert params == {"alphas": 100, "eps": 1e-3, "cv": 5, "max_iter": 1000, "tol": 1e-2, "patience": 7,
                      "null_margin": None, "tie": 1e-6, "random_state": None}
    copy = clone(estimator)
    assert copy is not estimator and copy.get_params() == params
    assert estimator.set_params(patience=3) is estimator
    assert estimator.patience == 3 and copy.patience == 7


def test_fit_returns_self_with_lassocvs_attributes():
    X, y = problem()
    estimator = CompiledLassoCV(**STUDY)
    assert estimator.fit(X, y) is estimator
    assert estimator.alphas_.shape == (100,) and np.all(np.diff(estimator.alphas_) < 0)
    assert estimator.alpha_ in estimator.alphas_
    assert estimator.mse_path_.shape == (100, 5)
    walked = ~np.isnan(estimator.mse_path_[:, 0])
    assert walked[:11].all() and not walked.all()  # the walk stopped early ...
    assert np.array_equal(walked, ~np.isnan(estimator.mse_path_).any(axis=1))  # ... in lock step
    assert estimator.coef_.shape == (30,) and isinstance(estimator.intercept_, float)
    assert estimator.n_iter_ >= 1 and estimator.n_features_in_ == 30
    assert np.count_nonzero(estimator.coef_[:5]) == 5


def test_predict_is_the_linear_model():
    X, y = problem()
    estimator = CompiledLassoCV(**STUDY).fit(X, y)
    prediction = estimator.predict(X[:7])
    assert prediction.shape == (7,)
    np.testing.assert_allclose(prediction, X[:7] @ estimator.coef_ + estimator.intercept_, rtol=1e-12)
    assert estimator.score(X, y) > 0.8
    with pytest.raises(ValueError, match="30 features"):
        estimator.predict(X[:, :10])


def test_predict_before_fit_is_an_error():
    with pytest.raises(ValueError, match="not fitted"):
        CompiledLassoCV().predict(np.ones((2, 3)))


@pytest.mark.parametrize("name, value, expected", [
    ("tol", -1.0, "The 'tol' parameter of CompiledLassoCV must be a float in the range [0.0, inf). Got -1.0 instead."),
    ("cv", 1, "The 'cv' parameter of CompiledLassoCV must be an int in the range [2, inf), an object implementing "
              "'split' and 'get_n_splits', an iterable or None. Got 1 instead."),
    ("null_margin", 2.0, "The 'null_margin' parameter of CompiledLassoCV must be a float in the range [0.0, 1.0] "
                         "or None. Got 2.0 instead."),
])
def test_a_bad_parameter_is_one_clear_message_at_fit(name, value, expected):
    X, y = problem()
    estimator = CompiledLassoCV(**{name: value})  # __init__ stores, fit validates (scikit-learn's convention)
    with pytest.raises(InvalidParameterError) as raised:
        estimator.fit(X, y)
    assert str(raised.value) == expected


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_study_settings_pick_lassocvs_alpha_on_a_clear_problem(dtype):
    """Where LassoCV's CV curve has one clear minimum, the compiled search picks the same alpha
    from the same grid, and the refit is LassoCV's refit."""
    X, y = problem(dtype=dtype)
    study = LassoCV(**STUDY, n_jobs=1).fit(X, y)
    fast = regress.study_compiled_lassocv().fit(X, y)
    np.testing.assert_array_equal(fast.alphas_, study.alphas_)
    assert fast.alpha_ == study.alpha_
    np.testing.assert_array_equal(fast.coef_, study.coef_)
    assert fast.intercept_ == study.intercept_
    walked = ~np.isnan(fast.mse_path_[:, 0])
    np.testing.assert_allclose(fast.mse_path_[walked], study.mse_path_[walked], rtol=1e-2)


def test_the_study_settings_give_the_pinned_answer():
    """The regression stage's --fast fit on a fixed problem, pinned to the values the search gave when it
    was a function (``fit_fast_lasso``): the chosen alpha of the grid, the sparsity and the intercept."""
    X, y = problem(n_rows=90, n_features=120, seed=12, dtype=np.float32)
    fast = regress.study_compiled_lassocv().fit(np.asfortranarray(X), y)
    assert int(np.flatnonzero(fast.alphas_ == fast.alpha_)[0]) == PINNED_INDEX
    assert np.count_nonzero(fast.coef_) == PINNED_NONZERO
    assert fast.intercept_ == pytest.approx(PINNED_INTERCEPT, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("n_rows", "n_features", "seed", "on_grams"),
                         [(120, 30, 1, True), (90, 120, 2, True), (200, 400, 3, True), (60, 800, 4, False)])
def test_the_exact_search_walks_lassocvs_whole_grid_and_picks_its_alpha(dtype, n_rows, n_features, seed, on_grams):
    """``--solver compiled`` (``patience=None, tie=0``): every alpha of LassoCV's grid is walked (no NaN in
    the path), the mean curve follows LassoCV's, and the chosen alpha and refit are LassoCV's, on Gram
    matrices (more rows than columns, and fewer) and on the columns (fewer than one row per ten columns)."""
    from plmtransfer.learn import lasso

    assert lasso.walks_on_grams(n_rows - n_rows // 5, n_features, 5, np.dtype(dtype).itemsize) is on_grams
    X, y = problem(n_rows, n_features, seed, dtype)
    X = np.asfortranarray(X)
    study = LassoCV(**STUDY, n_jobs=1).fit(X, y)
    exact = regress.study_compiled_lassocv(exact=True).fit(X, y)
    assert exact.patience is None and exact.tie == 0.0
    assert not np.isnan(exact.mse_path_).any()
    np.testing.assert_allclose(exact.mse_path_.mean(axis=1), study.mse_path_.mean(axis=1), rtol=2e-2)
    assert exact.alpha_ == study.alpha_
    np.testing.assert_array_equal(exact.coef_, study.coef_)


def test_the_exact_search_takes_the_first_minimum_of_the_whole_curve():
    """A curve whose minimum lies far beyond where the early stop ends: the exact search walks on
    and finds it; the choice is ``argmin`` of the mean curve, the first of equal values."""
    from plmtransfer.learn import lasso

    curve = np.concatenate([np.linspace(1.0, 0.9, 10), np.full(15, 0.95), np.linspace(0.94, 0.5, 20),
                            np.full(55, 0.5)])
    assert lasso.walk_finished(curve[:26], 25, 10, None)  # the early stop would end here, at 0.9
    assert not lasso.walk_finished(curve, 98, None, None)
    assert lasso.walk_finished(curve, 99, None, None)
    assert [len(chunk) for chunk in lasso.walk_chunks(100, None)] == [100]
    assert lasso.chosen_alpha_index(curve, 0.0) == int(np.argmin(curve)) == 44


def single_mutant_onehot(n_rows: int = 300, length: int = 25, seed: int = 0):
    """One-hot ``flat`` features (float32) of random single mutants of one protein and an additive target:
    every column is its wild-type value except at a few variants, as in a DMS assay."""
    rng = np.random.default_rng(seed)
    wildtype = rng.integers(0, 20, length)
    effects = rng.normal(size=(length, 20)) * (rng.random((length, 20)) < 0.2)
    X = np.zeros((n_rows, length * 20), dtype=np.float32)
    y = np.empty(n_rows)
    for row in range(n_rows):
        letters = wildtype.copy()
        position = rng.integers(length)
        letters[position] = (wildtype[position] + rng.integers(1, 20)) % 20
        X[row, np.arange(length) * 20 + letters] = 1.0
        y[row] = effects[position, letters[position]] + rng.normal(scale=0.3)
    return np.asfortranarray(X), y


def test_the_sparse_walk_is_the_dense_walk_on_fewer_operations():
    """``walk_sparse`` (columns as wild-type value plus exceptions) reaches the same solutions as
    ``walk_data`` on the same centred data along the same penalties, at a tight tolerance."""
    from plmtransfer.learn import coordinate_descent, lasso

    X, y = single_mutant_onehot()
    common = lasso.common_values(X)
    assert lasso.exception_share(X, common) < 0.01
    mean = X.mean(axis=0)
    X_centred = np.asfortranarray(X - mean)
    y_centred = y - y.mean()
    norms = np.einsum("ij,ij->j", X_centred, X_centred, dtype=np.float64)
    keep = norms > 0
    X_centred, norms, common, mean = np.asfortranarray(X_centred[:, keep]), norms[keep], common[keep], mean[keep]
    penalties = lasso.study_alpha_grid(X_centred, y_centred)[::10] * len(y)
    dense, _ = coordinate_descent.walk_data(X_centred, y_centred, norms, np.zeros(len(norms)), penalties, 1e-12, 10000)
    exceptions = lasso.column_exceptions(X_centred, X[:, keep] != common, common - mean)
    sparse, _ = coordinate_descent.walk_sparse(*exceptions, y_centred, norms, np.zeros(len(norms)), penalties,
                                               1e-12, 10000)
    assert np.count_nonzero(dense[:, -1]) > 20
    np.testing.assert_allclose(sparse, dense, rtol=1e-6, atol=1e-8)


def test_the_gram_walk_is_the_column_walk_with_fewer_rows_than_columns():
    """``walk_gram`` on the centred Gram matrix reaches ``walk_data``'s solutions along the same penalties
    at a tight tolerance when rows are fewer than columns (the compiled search walks such folds on Grams)."""
    from plmtransfer.learn import coordinate_descent, lasso

    X, y = problem(50, 200, seed=5)
    X_centred = np.asfortranarray(X - X.mean(axis=0))
    y_centred = y - y.mean()
    norms = np.einsum("ij,ij->j", X_centred, X_centred)
    penalties = lasso.study_alpha_grid(X_centred, y_centred)[::10] * len(y)
    columns, _ = coordinate_descent.walk_data(X_centred, y_centred, norms, np.zeros(200), penalties, 1e-12, 10000)
    grams, _ = coordinate_descent.walk_gram(np.ascontiguousarray(X_centred.T @ X_centred), X_centred.T @ y_centred,
                                            float(y_centred @ y_centred), np.zeros(200), penalties, 1e-12, 10000)
    assert np.count_nonzero(columns[:, -1]) > 20
    np.testing.assert_allclose(grams, columns, rtol=1e-6, atol=1e-8)


def test_dense_features_walk_on_grams_from_one_row_per_ten_columns_within_a_memory_cap():
    """The layout rule: UniRep 1900 on 300 rows (192 per inner part) walks on Grams, on 200 (128) on the
    columns; ESM-2 15B's 5120 columns would need 500 MiB of float32 Grams, over the cap."""
    from plmtransfer.learn import lasso

    assert lasso.walks_on_grams(192, 1900, 5, 4)
    assert not lasso.walks_on_grams(128, 1900, 5, 4)
    assert lasso.walks_on_grams(10_000, 3600, 5, 4)
    assert not lasso.walks_on_grams(10_000, 5120, 5, 4)


def held_bytes(fold) -> int:
    """Bytes of the arrays an inner fold holds of its own (the search's rows ``X`` are shared, not held)."""
    arrays = [value for name, value in vars(fold).items() if isinstance(value, np.ndarray) and name != "X"]
    arrays += list(fold.exceptions or ())
    return sum(array.nbytes for array in arrays)


@pytest.mark.parametrize("walk", ["gram", "sparse", "columns"])
def test_an_inner_fold_holds_no_copy_of_the_rows_unless_it_walks_on_them(walk):
    """On Grams and on exceptions a fold keeps vectors beside its Gram or exceptions (and shares the
    search's rows for its test errors); only the walk on the columns keeps the centred training part."""
    from plmtransfer.learn import lasso

    if walk == "sparse":
        X, y = single_mutant_onehot(400, 30, seed=4)
        X = np.asfortranarray(X[:, X.std(axis=0) > 0])
    else:
        X, y = problem(*((400, 60) if walk == "gram" else (40, 600)))
        X = np.asfortranarray(X)
    parts = np.array_split(np.arange(len(X)), 5)
    train, test = np.concatenate(parts[1:]), parts[0]
    gram = None
    if walk == "gram":
        gram = lasso.inner_training_grams(X, [(np.setdiff1d(np.arange(len(X)), part), part) for part in parts])[0]
    common = lasso.common_values(X) if walk == "sparse" else None
    fold = lasso.InnerFold.make(X, y, train, test, gram, common)
    training_part = len(train) * X.shape[1] * X.itemsize
    assert fold.X is X
    if walk == "columns":
        assert fold.X_centred.shape == (len(train), X.shape[1])
    else:
        assert fold.X_centred is None
        assert held_bytes(fold) - (0 if fold.gram is None else fold.gram.nbytes) < training_part / 10
    assert np.isfinite(fold.walk(lasso.study_alpha_grid(X, y)[:20], 1e-2, 1000)).all()


def test_the_exact_search_on_single_mutants_picks_lassocvs_alpha():
    X, y = single_mutant_onehot(400, 30, seed=4)
    keep = X.std(axis=0) > 0
    X = np.asfortranarray(X[:, keep])
    study = LassoCV(**STUDY, n_jobs=1).fit(X, y)
    exact = regress.study_compiled_lassocv(exact=True).fit(X, y)
    assert exact.alpha_ == study.alpha_
    np.testing.assert_array_equal(exact.coef_, study.coef_)
    np.testing.assert_allclose(exact.mse_path_.mean(axis=1), study.mse_path_.mean(axis=1), rtol=2e-2)
