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
