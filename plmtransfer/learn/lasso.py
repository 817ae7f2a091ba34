"""LassoCV compiled, as a scikit-learn estimator: the whole grid (``--solver compiled``) or an early stop (``fast``).

:class:`CompiledLassoCV` searches LassoCV's alpha grid with LassoCV's inner K-fold CV, tolerance and
warm starts, solving the walk with a compiled coordinate descent
(:mod:`plmtransfer.learn.coordinate_descent`: scikit-learn's algorithm and stopping rule). With
``patience=None`` it walks the whole grid and picks alpha by LassoCV's rule (the first minimum of
the mean inner-CV MSE): LassoCV's problem and answer, compiled. With a ``patience`` it walks the
grid only as far as it is useful. It follows scikit-learn's conventions: parameters are stored by ``__init__`` and
validated by ``fit``, which sets ``alpha_``, ``alphas_``, ``mse_path_``, ``coef_``, ``intercept_``,
``n_iter_`` and ``dual_gap_`` as ``LassoCV`` does; ``predict`` and ``score`` are a linear model's.
The regression stage (:mod:`plmtransfer.learn.regress`) fits it with the study's settings.

The building blocks (the grid, one inner fold's walk, the Gram matrices of the inner training
parts, the early-stop rule) are functions of their own, so that ``bench/regress.py`` can replay the
rule on the study's own CV curves.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

CHUNK = 5
MAX_RUNS_COPIED_AS_BLOCKS = 8
SPARSE_MAX_EXCEPTIONS = 0.05
"""Largest share of entries that differ from their column's common value for which the walk runs on
the exceptions (:func:`plmtransfer.learn.coordinate_descent.walk_sparse`): one-hot features of single
mutants are near 0.001, dense embeddings near 1."""
GRAM_MIN_ROWS_PER_FEATURE = 0.1
"""Dense features walk on the inner folds' Gram matrices once an inner training part has at least
this many rows per feature, fewer rows than columns included (UniRep 1900 mean on 300 rows: 2x faster
than on the columns; on 200 rows building the Gram costs more than it saves): a coordinate step then
reads one entry instead of a column, and pays a Gram row only when the coefficient moves."""
GRAM_MAX_BYTES = 256 * 2**20
"""Most memory the inner folds' Gram matrices of one search may take (UniRep 1900 in float32: 72 MB)."""


def rows_of(X: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``X[rows]`` as a new column-major array.

    The solver and the predictions work on column-major data (the layout of the study's
    pandas frames). Rows that come in a few contiguous runs (the parts of an unshuffled
    K-fold) are copied run by run; other selections are gathered from the transposed view,
    which gives the column-major layout directly instead of a row-major copy that would
    then be transposed (a second, slower copy).
    """
    X = np.asarray(X)
    rows = np.asarray(rows)
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    if len(breaks) >= MAX_RUNS_COPIED_AS_BLOCKS:
        return X.T.take(rows, axis=1).T
    out = np.empty((len(rows), X.shape[1]), dtype=X.dtype, order="F")
    position = 0
    for run in np.split(rows, breaks):
        if len(run):
            out[position:position + len(run)] = X[run[0]:run[-1] + 1]
            position += len(run)
    return out


def gram_decision(n_train: int, n_features: int, n_folds: int, smallest_inner: int | None = None) -> bool | str:
    """What LassoCV's ``precompute='auto'`` decides in every fit of an ``n_folds``-fold search.

    ``'auto'`` uses the Gram matrix when samples outnumber features; the inner fits see about
    ``(n_folds - 1) / n_folds`` of ``n_train`` (K-fold), or ``smallest_inner`` rows at least when
    given (folds of unequal sizes: GroupKFold). Returns ``True`` or ``False`` when the inner fits
    and the final fit all agree, else ``'auto'``.
    """
    if smallest_inner is None:
        smallest_inner = n_train - -(-n_train // n_folds)
    if smallest_inner > n_features:
        return True
    if n_train <= n_features:
        return False
    return "auto"


def walks_on_grams(smallest_inner: int, n_features: int, n_folds: int, itemsize: int) -> bool:
    """Whether the compiled search walks dense features on Gram matrices (:data:`GRAM_MIN_ROWS_PER_FEATURE`,
    :data:`GRAM_MAX_BYTES`): a choice of speed only, the same coordinate descent either way (LassoCV
    itself decides by :func:`gram_decision`; the paths differ by rounding, as the float64 sums do)."""
    return (smallest_inner >= GRAM_MIN_ROWS_PER_FEATURE * n_features
            and n_folds * n_features**2 * itemsize <= GRAM_MAX_BYTES)


def common_values(X: np.ndarray) -> np.ndarray:
    """A likely common value of each column: the majority of its first, middle and last entries.

    For one-hot features of single mutants that is the wild type's value at every position (three
    variants rarely share a mutated position). Any choice is correct (the exceptions are whatever
    differs from it); a poor one only adds exceptions. Costs ``O(columns)``, unlike a mode.
    """
    first, middle, last = X[0], X[len(X) // 2], X[-1]
    return np.where(first == middle, first, last)


def column_exceptions(X_centred: np.ndarray, exceptional: np.ndarray, common: np.ndarray) -> tuple[np.ndarray, ...]:
    """The centred columns as a common value plus exceptions (CSC), the layout of ``walk_sparse``.

    ``exceptional`` marks the entries that differ from their column's ``common`` value (centred,
    in ``X_centred``'s dtype). The exceptions are kept as float64 differences, exact for float32
    or float64 entries. Returns ``(indptr, indices, values, common, exception_sums)``.
    """
    columns, rows = np.nonzero(exceptional.T)
    common = common.astype(np.float64)
    values = X_centred[rows, columns].astype(np.float64) - common[columns]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(columns, minlength=X_centred.shape[1]))])
    sums = np.bincount(columns, weights=values, minlength=X_centred.shape[1])
    return indptr, rows.astype(np.int64), values, common, sums


def exception_share(X: np.ndarray, common: np.ndarray) -> float:
    """The share of ``X``'s entries that differ from their column's ``common`` value."""
    return float(np.count_nonzero(X != common)) / X.size if X.size else 0.0


def study_alpha_grid(X: np.ndarray, y: np.ndarray, n_alphas: int = 100, eps: float = 1e-3) -> np.ndarray:
    """LassoCV's default alphas: ``n_alphas`` log-spaced from alpha_max down to ``eps * alpha_max``.

    The arithmetic is scikit-learn's ``_alpha_grid`` step for step (centred target, float64
    products), so that the grid is LassoCV's to the last bit.
    """
    y_centred = y - np.average(y, axis=0)
    X_mean = np.average(X, axis=0)
    Xy = X.T @ y_centred - X_mean * np.sum(y_centred, axis=0)
    alpha_max = np.sqrt(np.max(Xy ** 2)) / len(X)
    if alpha_max <= np.finfo(np.float64).resolution:
        return np.full(n_alphas, np.finfo(np.float64).resolution)
    return np.geomspace(alpha_max, alpha_max * eps, num=n_alphas)


@dataclass
class InnerFold:
    """One inner CV fold, centred once, and the fold's walk down the alpha grid: where it stands and
    the coefficients walked so far.

    It keeps what its walk reads and no more: the centred training part for the walk on the columns,
    its Gram matrix and ``Xᵀy`` for the Gram walk, its exceptions for the sparse walk; the test part
    is gathered from the search's rows when its errors are computed. So an inner fold holds a few
    vectors beside its Gram matrix or exceptions, not a copy of the data.
    """

    n_rows: int
    y_centred: np.ndarray
    X_mean: np.ndarray
    y_mean: float
    X: np.ndarray
    test: np.ndarray
    y_test: np.ndarray
    X_centred: np.ndarray | None = None
    column_norms2: np.ndarray | None = None
    gram: np.ndarray | None = None
    Xy: np.ndarray | None = None
    exceptions: tuple[np.ndarray, ...] | None = None
    coef: np.ndarray = field(init=False)
    walked: list[np.ndarray] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        """The walk starts from all-zero coefficients, as ``enet_path`` does."""
        self.coef = np.zeros(self.X.shape[1])

    @classmethod
    def make(cls, X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
             gram: np.ndarray | None, common: np.ndarray | None = None) -> InnerFold:
        """Centre the training rows of ``X`` as LassoCV does; ``gram`` is their centred Gram matrix, if
        used; with ``common`` (:func:`common_values` of ``X``) the centred columns are kept as common
        values plus exceptions (:func:`column_exceptions`) for the sparse walk; with neither, as columns.

        The column means and the centring follow scikit-learn's ``_path_residuals``/``_pre_fit`` in
        the features' dtype (the means over a row-major copy, as LassoCV sums them); the solver itself
        accumulates in float64 (:mod:`plmtransfer.learn.coordinate_descent`). ``X`` is kept by
        reference for the test part's predictions.
        """
        X_centred = rows_of(X, train)
        X_mean = np.average(np.ascontiguousarray(X_centred), axis=0)
        exceptional = None if common is None else X_centred != common
        X_centred -= X_mean
        y_train = y[train].astype(X.dtype)
        y_mean = np.average(y_train, axis=0)
        y_centred = y_train - y_mean
        fold = cls(len(train), y_centred, X_mean.astype(np.float64), float(y_mean), X, test, y[test])
        if gram is not None:
            fold.gram = np.ascontiguousarray(gram, dtype=X.dtype)
            fold.Xy = np.dot(X_centred.T, y_centred).astype(np.float64)
            return fold
        fold.column_norms2 = np.einsum("ij,ij->j", X_centred, X_centred, dtype=np.float64)
        if common is None:
            fold.X_centred = X_centred
        else:
            fold.exceptions = column_exceptions(X_centred, exceptional, common - X_mean)
        return fold

    @cached_property
    def y_norm2(self) -> float:
        """‖y‖² of the centred training target: the scale of the solver's tolerance and of its gap."""
        return float(np.dot(self.y_centred.astype(np.float64), self.y_centred))

    def walk(self, alphas: np.ndarray, tol: float, max_iter: int) -> np.ndarray:
        """Walk on along ``alphas`` (warm-started where the walk stands); the test MSE at each.

        LassoCV's path for this fold (same grid, centring, tolerance and warm starts) solved by
        :mod:`plmtransfer.learn.coordinate_descent`, scikit-learn's algorithm in one compiled call
        that releases the GIL. The solutions are appended to :attr:`walked`.
        """
        from plmtransfer.learn import coordinate_descent  # numba: imported by the compiled solvers only

        penalties = np.asarray(alphas, dtype=np.float64) * self.n_rows
        if self.exceptions is not None:
            solutions, unconverged = coordinate_descent.walk_sparse(
                *self.exceptions, self.y_centred.astype(np.float64), self.column_norms2, self.coef, penalties, tol,
                max_iter)
        elif self.X_centred is not None:
            solutions, unconverged = coordinate_descent.walk_data(
                self.X_centred, self.y_centred, self.column_norms2, self.coef, penalties, tol, max_iter)
        else:
            solutions, unconverged = coordinate_descent.walk_gram(
                self.gram, self.Xy, self.y_norm2, self.coef, penalties, tol, max_iter)
        if unconverged:
            warnings.warn(f"coordinate descent did not reach tol={tol} within {max_iter} epochs at "
                          f"{unconverged} alpha(s) of an inner fold", ConvergenceWarning, stacklevel=2)
        self.walked.append(solutions)
        return self.test_mse(solutions)

    def test_mse(self, coefs: np.ndarray) -> np.ndarray:
        """Mean squared error on the test part of each column of ``coefs``, as LassoCV computes it.

        At tol=1e-2 most alphas leave the warm start as it is, so consecutive columns are
        often equal: each distinct column is evaluated once. The predictions are computed in
        the features' dtype on the test rows row-major, as LassoCV computes them.
        """
        distinct = np.concatenate([[True], np.any(coefs[:, 1:] != coefs[:, :-1], axis=0)])
        unique_coefs = coefs[:, distinct]
        intercepts = self.y_mean - np.dot(self.X_mean, unique_coefs)
        X_test = np.ascontiguousarray(rows_of(self.X, self.test))
        residues = X_test @ unique_coefs.astype(X_test.dtype) - self.y_test[:, np.newaxis]
        residues += intercepts
        return (residues ** 2).mean(axis=0)[np.cumsum(distinct) - 1]


def inner_training_grams(X: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """Centred Gram matrices of the inner training parts, assembled from the Grams of the test parts.

    The test parts of K-fold CV partition the rows, so with ``Z`` the rows centred on their
    overall mean and ``B_k = Z[test_k]ᵀZ[test_k]``, the Gram of training part k centred on
    its own mean is ``Σ_j B_j - B_k - n_k·d_k·d_kᵀ`` (``d_k`` the mean of ``Z`` over that
    part): products over n rows in all instead of 4n for five separate Grams. Centring on
    the overall mean first keeps the subtraction from cancelling digits. Mathematically
    equal to ``X_centredᵀX_centred`` of each fold, which is all the coordinate descent sees
    of the data, so the path is the same one.

    Each training Gram is written over its test part's Gram, the last over the sum, and the
    rank-one correction is subtracted in row blocks: at most K + 1 Gram-sized arrays are alive
    (2K + 3 if each step made a new array); working in place changes no operation or its order.
    """
    tests = [test for _, test in folds]
    if sorted(np.concatenate(tests).tolist()) != list(range(len(X))):
        raise ValueError("the test parts of the inner folds must partition the rows")
    Z = X - np.average(X, axis=0)
    grams, part_sums = [], []
    for test in tests:
        part = rows_of(Z, test)
        grams.append(part.T @ part)
        part_sums.append(part.sum(axis=0))
    del Z, part
    gram_all = grams[0].copy()
    for part_gram in grams[1:]:
        gram_all += part_gram
    sum_all = sum(part_sums)
    for k, ((train, _), part_sum) in enumerate(zip(folds, part_sums, strict=True)):
        if k == len(grams) - 1:
            grams[k] = np.subtract(gram_all, grams[k], out=gram_all)
        else:
            np.subtract(gram_all, grams[k], out=grams[k])
        subtract_outer(grams[k], len(train), (sum_all - part_sum) / len(train))
    return grams


def subtract_outer(matrix: np.ndarray, scale: int, vector: np.ndarray, block_rows: int = 64) -> None:
    """``matrix -= scale * outer(vector, vector)`` in place, in blocks of rows (no full-size temporary)."""
    for start in range(0, len(vector), block_rows):
        block = np.outer(vector[start:start + block_rows], vector)
        block *= scale
        matrix[start:start + block_rows] -= block


def walk_chunks(n_alphas: int, patience: int | None) -> list[np.ndarray]:
    """Alpha indices in the chunks the walk takes: ``patience + 1`` first (the walk cannot stop
    earlier), then ``CHUNK`` at a time (the stop is checked after each chunk); the whole grid at
    once without a ``patience`` (nothing to check on the way)."""
    if patience is None:
        return [np.arange(n_alphas)]
    starts = [0, *range(patience + 1, n_alphas, CHUNK)]
    return [np.arange(start, min(end, n_alphas)) for start, end in zip(starts, [*starts[1:], n_alphas], strict=True)]


def walk_finished(mse: np.ndarray, last: int, patience: int | None, null_margin: float | None) -> bool:
    """Whether the walk may stop after alpha index ``last`` of the mean inner-CV MSE curve ``mse``.

    It stops ``patience`` alphas past the running minimum, but not while that minimum is
    within a relative ``null_margin`` of the first alpha's MSE: at the largest alpha every
    coefficient is zero (the null model), and a curve that has not yet fallen clearly below
    it can stay flat for many alphas before it falls (seen on real assays: 10 flat alphas,
    then the study's minimum 12 alphas further on). ``None`` switches that guard off. Without a
    ``patience`` the walk runs to the end of the grid.
    """
    if patience is None:
        return last == len(mse) - 1
    best = int(np.argmin(mse))
    if last - best < patience:
        return False
    return null_margin is None or mse[best] < mse[0] * (1 - null_margin)


def chosen_alpha_index(mse: np.ndarray, tie: float) -> int:
    """The alpha index picked from a (partly walked) curve: the largest alpha whose MSE is within
    a relative ``tie`` of the minimum, as LassoCV's argmin picks the first of tied alphas."""
    return int(np.flatnonzero(mse <= mse.min() * (1 + tie))[0])


class CompiledLassoCV(RegressorMixin, BaseEstimator):
    """LassoCV's search compiled: its whole grid (``patience=None``), or walked only as far as it is useful.

    LassoCV's ``alphas`` grid (log-spaced from the smallest alpha that zeroes every coefficient
    down to ``eps`` times it), inner CV (``cv``: ``KFold`` without shuffling for a number, as
    LassoCV), tolerance and
    warm starts are kept: the inner folds walk the grid from the largest alpha down in lock
    step, in the chunks of :func:`walk_chunks`, each warm-started from the last
    (:meth:`InnerFold.walk`, solved by :mod:`plmtransfer.learn.coordinate_descent`: scikit-learn's
    algorithm and stopping rule, compiled, so the path meets the same duality-gap tolerance but
    is not bitwise LassoCV's). With ``patience=None`` and ``tie=0`` the whole grid is walked and
    the first minimum of the mean MSE wins: LassoCV's search. Otherwise the walk stops once the mean
    inner-CV MSE has not improved for ``patience`` alphas and its minimum lies clearly below the null model's
    (:func:`walk_finished`), skipping the costly small-alpha tail. MSEs within a relative ``tie``
    of the minimum count as tied and the largest such alpha wins, as LassoCV's argmin picks the
    first of tied alphas; the best alpha is refitted with scikit-learn's ``Lasso`` on all rows,
    as LassoCV refits. Unless the CV curve has a lower minimum beyond the patience window, or two
    alphas' MSEs are within the solver's tolerance of each other, this is LassoCV's alpha and model.

    Dense features walk on the Gram matrices of the inner training parts once those have enough rows
    (:func:`walks_on_grams`: at least one per ten columns, fewer rows than columns included), the
    matrices assembled from those of the test parts (:func:`inner_training_grams`).

    Parameters
    ----------
    alphas : int, default=100
        Number of alphas in the grid (LassoCV's ``alphas`` as a count).
    eps : float, default=1e-3
        Smallest alpha of the grid relative to the largest.
    cv : int, cross-validation generator or iterable, default=5
        Inner CV, as LassoCV's ``cv``: a number of unshuffled K folds, a splitter (``KFold(5,
        shuffle=True)``) or (train, test) index pairs (GroupKFold's folds, a ``PredefinedSplit``).
        Gram matrices (:func:`inner_training_grams`) are used only when the test parts partition the rows.
    max_iter : int, default=1000
        Most coordinate-descent epochs per alpha.
    tol : float, default=1e-4
        Duality-gap tolerance relative to ``‖y‖²`` (LassoCV's).
    patience : int or None, default=10
        Alphas walked past the best mean MSE before the walk may stop (10 is a factor ~2 in alpha);
        ``None`` walks the whole grid, as LassoCV does.
    null_margin : float or None, default=0.01
        The walk does not stop while the best mean MSE is within this relative margin of the null
        model's (the first alpha's); ``None`` switches the guard off.
    tie : float, default=1e-6
        Relative difference within which two mean MSEs count as tied; 0 is LassoCV's argmin.
    random_state : int, RandomState instance or None, default=None
        Passed to the refit ``Lasso`` (as LassoCV does).

    Attributes
    ----------
    alpha_ : float
        The chosen alpha.
    alphas_ : ndarray of shape (alphas,)
        The grid, largest first.
    mse_path_ : ndarray of shape (alphas, cv)
        Test MSE of each inner fold at each alpha; NaN past the point where the walk stopped.
    coef_ : ndarray of shape (n_features,)
        Coefficients of the refit at ``alpha_``.
    intercept_ : float
        Intercept of the refit.
    n_iter_ : int
        Coordinate-descent epochs of the refit.
    dual_gap_ : float
        Duality gap of the refit.
    n_features_in_ : int
        Number of features seen by ``fit``.
    """

    _parameter_constraints: dict = {
        "alphas": [Interval(Integral, 1, None, closed="left")],
        "eps": [Interval(Real, 0, None, closed="neither")],
        "cv": ["cv_object"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "patience": [Interval(Integral, 0, None, closed="left"), None],
        "null_margin": [Interval(Real, 0, 1, closed="both"), None],
        "tie": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, *, alphas: int = 100, eps: float = 1e-3, cv: int = 5, max_iter: int = 1000,
                 tol: float = 1e-4, patience: int | None = 10, null_margin: float | None = 0.01, tie: float = 1e-6,
                 random_state=None):
        self.alphas = alphas
        self.eps = eps
        self.cv = cv
        self.max_iter = max_iter
        self.tol = tol
        self.patience = patience
        self.null_margin = null_margin
        self.tie = tie
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y) -> CompiledLassoCV:
        """Search the grid (to its end or its early stop), refit the chosen alpha on all rows; returns ``self``."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], y_numeric=True)
        alphas = study_alpha_grid(X, y, self.alphas, self.eps)
        folds = list(check_cv(self.cv).split(X, y))
        smallest_inner = min(len(train) for train, _ in folds)
        common = common_values(X)
        if exception_share(X, common) > SPARSE_MAX_EXCEPTIONS:
            common = None
        tests_cover_rows = np.array_equal(np.sort(np.concatenate([test for _, test in folds])), np.arange(len(X)))
        use_gram = (common is None and tests_cover_rows
                    and walks_on_grams(smallest_inner, X.shape[1], len(folds), X.dtype.itemsize))
        grams = inner_training_grams(X, folds) if use_gram else [None] * len(folds)
        inner = [InnerFold.make(X, y, train, test, gram, common)
                 for (train, test), gram in zip(folds, grams, strict=True)]
        mse = np.full(len(alphas), np.inf)
        mse_path = np.full((len(alphas), len(inner)), np.nan)
        for chunk in walk_chunks(len(alphas), self.patience):
            curves = [fold.walk(alphas[chunk], self.tol, self.max_iter) for fold in inner]
            mse[chunk] = np.mean(curves, axis=0)
            mse_path[chunk] = np.column_stack(curves)
            if walk_finished(mse, chunk[-1], self.patience, self.null_margin):
                break
        best = chosen_alpha_index(mse, self.tie)
        del inner, grams  # the refit copies the rows: the walks' matrices are not needed beside it
        refit = Lasso(alpha=alphas[best], max_iter=self.max_iter, tol=self.tol, random_state=self.random_state)
        refit.fit(X, y)
        self.alpha_ = float(alphas[best])
        self.alphas_ = alphas
        self.mse_path_ = mse_path
        self.coef_ = refit.coef_
        self.intercept_ = refit.intercept_
        self.n_iter_ = refit.n_iter_
        self.dual_gap_ = refit.dual_gap_
        return self

    def predict(self, X) -> np.ndarray:
        """``X @ coef_ + intercept_``, as scikit-learn's linear models predict."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return X @ self.coef_ + self.intercept_


def compile_solver() -> None:
    """Compile the coordinate descent for every signature the regression stage calls it with, into
    numba's on-disk cache (``__pycache__`` beside :mod:`plmtransfer.learn.coordinate_descent`), so
    that no regression job pays the compilation (about 6 s). ``make install`` runs it; a job that
    finds the cache loads it in a fraction of a second.

    The signatures are the stage's: float32 and float64 features, column-major data (fewer than one
    inner-fold row per ten columns) and C-ordered Gram matrices (:func:`walks_on_grams`).
    """
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        X = np.asfortranarray(rng.random((60, 800)).astype(dtype))
        y = rng.random(60)
        CompiledLassoCV(tol=1e-2, patience=None, tie=0.0).fit(X, y)
        CompiledLassoCV(tol=1e-2, patience=None, tie=0.0).fit(np.asfortranarray(X[:, :20]), y)


