"""Cross-validated regression on compressed embeddings: the study's LassoCV protocol and variants.

The default reproduces Vieira, Handojo & Wilke (2025), ``scripts/reg_LassoCV.py``:

1. inner-join the metadata (``ID``, ``target``) and the embeddings on ``ID``, in the
   metadata's row order;
2. scale every feature to [0, 1] over all joined rows (``MinMaxScaler``);
3. outer ``KFold(5, shuffle=True, random_state=42)``;
4. in each outer fold fit ``LassoCV(max_iter=1000, tol=1e-2, random_state=42)`` (inner 5-fold
   CV over its 100-alpha path) on the training part;
5. report R², MAE, RMSE and Spearman's rho on train and test, the number of non-zero
   coefficients, the selected alpha and the fit time, one row per fold.

Features keep the dtype of the embedding file (float32 pickles are fitted in float32), as in
the study, whose pandas frames kept it too.

Speed without changing the answer: features that are constant over a fold's training rows
(most columns of one-hot ``flat`` features of a DMS assay: unmutated positions) are removed
before the fit. After centering such a column is zero in every inner and final fit, so the
coordinate descent never moves its coefficient and it never enters the alpha grid or the
duality gap; its coefficient is 0 and predictions are unchanged. ``precompute`` (the Gram
matrix) is decided from the original number of features, as ``'auto'`` would have
(see :func:`precompute_setting`). The fits
run with scikit-learn's ``assume_finite`` (inputs are checked for NaN/inf once, on loading),
which skips a finiteness scan of the Gram matrix at every one of the 100 alphas.

Augmented models (Hsu et al. 2022, "Learning protein fitness models from evolutionary and
assay-labeled data"): ``augment`` names a zero-shot scores CSV (``ID, score``, from
``scripts/zero_shot.py``) whose score becomes one more feature column, joined on ``ID`` with
the same checks as the embeddings and scaled with the other columns; the results are labelled
``<method>+score``. ``features="onehot+score"`` is Hsu et al.'s augmented one-hot model under
the study's protocol: one-hot ``flat`` features of the metadata's ``sequence`` column plus the
score read from the input file (results labelled ``onehot+score``). Hsu et al. fit a ridge
regression whose penalty spares the score; here every column gets the study's MinMax scaling
and Lasso penalty, so that augmented and plain results compare under one protocol.

``fast=True`` trades exactness for speed: a shorter walk along the study's grid
(:func:`fit_fast_lasso`) solved by a compiled coordinate descent
(:mod:`plmtransfer.coordinate_descent`: scikit-learn's algorithm and stopping rule), outer
folds in threads with BLAS on one thread (:func:`fast_outer_folds`).
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from joblib import effective_n_jobs
from scipy.stats import spearmanr
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNetCV, Lasso, LassoCV, RidgeCV
from sklearn.model_selection import KFold
from sklearn.preprocessing import MinMaxScaler
from threadpoolctl import threadpool_limits

from plmtransfer import splits
from plmtransfer.backends.onehot import onehot_encode
from plmtransfer.errors import UserError
from plmtransfer.io import load_compressed
from plmtransfer.options import FEATURE_SETS, REGRESSORS, SCALINGS, STUDY_SAMPLE_SIZES

MODEL_NAMES = {"lassocv": "Lasso", "ridgecv": "Ridge", "elasticnetcv": "ElasticNet"}
SCORE_LABEL = "score"
MIN_ROWS = 10
INNER_FOLDS = 5
MAX_ITER = 1000
TOL = 1e-2
RANDOM_STATE = 42
RIDGE_ALPHAS = np.logspace(-4, 4, 17)
ELASTICNET_L1_RATIOS = (0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0)
FAST_CHUNK = 5
FAST_PATIENCE = 10
FAST_TIE = 1e-6
FAST_NULL_MARGIN = 0.01
MAX_RUNS_COPIED_AS_BLOCKS = 8
RESULT_COLUMNS = ["Model", "Fold", "R2_score_train", "MAE_score_train", "RMSE_score_train",
                  "R2_score_test", "MAE_score_test", "RMSE_score_test", "rho_score_train",
                  "rho_score_test", "num_nonzero_coefs", "alpha", "fit_seconds"]


@dataclass(frozen=True)
class Options:
    """How to cross-validate: regressor, outer CV scheme, scaling, solver, checks."""

    regressor: str = "lassocv"
    cv: str = "random"
    scaling: str = "global"
    fast: bool = False
    n_jobs: int | None = -1
    max_missing: float = 0.01
    augment: str | Path | None = None
    features: str = "input"


@dataclass
class Table:
    """The joined data: metadata rows (in metadata order) and their feature matrix."""

    metadata: pd.DataFrame
    features: np.ndarray

    @property
    def target(self) -> np.ndarray:
        """The regression target as float64."""
        return self.metadata["target"].to_numpy(dtype=np.float64)


def warn(message: str) -> None:
    """Print a warning line on stderr (the CLIs' channel for recoverable problems)."""
    print(f"warning: {message}", file=sys.stderr)


def method_from_path(path: str | Path) -> str:
    """The compression method named by a file: ``..._mean.pkl`` -> ``mean``, ``..._h_avg.pkl`` -> ``h_avg``."""
    from plmtransfer.compress import split_method

    return split_method(Path(path).name.split(".")[0])[1]


# ----------------------------------------------------------------------------- inputs


def read_metadata(path: str | Path) -> pd.DataFrame:
    """Read a metadata CSV with ``ID`` and ``target``; IDs as strings; error on repeated IDs."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: metadata file not found")
    frame = pd.read_csv(path, dtype={"ID": str})
    missing = [column for column in ("ID", "target") if column not in frame.columns]
    if missing:
        raise UserError(f"{path}: metadata needs columns 'ID' and 'target'; missing {missing}")
    repeated = frame["ID"][frame["ID"].duplicated()].unique()
    if len(repeated):
        raise UserError(f"{path}: {len(repeated)} repeated ID(s) in the metadata, e.g. "
                        f"{list(repeated[:3])}; resolve them in data preparation (--duplicates)")
    return frame


def clean_targets(metadata: pd.DataFrame, source: str) -> pd.DataFrame:
    """Drop rows whose target is non-numeric or NaN (warning with the count); check what remains."""
    target = pd.to_numeric(metadata["target"], errors="coerce")
    usable = np.isfinite(target.to_numpy(dtype=np.float64))
    if not usable.all():
        warn(f"{source}: dropped {int((~usable).sum())} row(s) with a non-numeric or missing target")
    cleaned = metadata.loc[usable].copy()
    cleaned["target"] = target[usable].astype(np.float64)
    return cleaned


def check_target_usable(target: np.ndarray, source: str) -> None:
    """Error if fewer than ``MIN_ROWS`` rows remain or the target is constant."""
    if len(target) < MIN_ROWS:
        raise UserError(f"{source}: only {len(target)} row(s) with a usable target; "
                        f"need at least {MIN_ROWS}")
    if np.all(target == target[0]):
        raise UserError(f"{source}: the target is constant ({target[0]}); nothing to regress")


def feature_matrix(ids: Sequence[str], embeddings: Mapping[str, np.ndarray],
                   source: str, what: str = "embedding") -> np.ndarray:
    """Stack the vectors of ``ids`` into a matrix in the embeddings' dtype; check length and NaN."""
    vectors = [np.asarray(embeddings[label]) for label in ids]
    length = vectors[0].shape
    for label, vector in zip(ids, vectors, strict=True):
        if vector.ndim != 1 or vector.shape != length:
            raise UserError(f"{source}: {what} of ID {label!r} has shape {vector.shape}, "
                            f"others {length}; every vector needs the same length")
        if not np.issubdtype(vector.dtype, np.number):
            raise UserError(f"{source}: {what} of ID {label!r} is not numeric ({vector.dtype})")
    matrix = np.stack(vectors)
    if not np.issubdtype(matrix.dtype, np.floating):
        matrix = matrix.astype(np.float64)
    bad_rows = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if len(bad_rows):
        raise UserError(f"{source}: {what} of ID {ids[bad_rows[0]]!r} contains NaN or "
                        f"infinite values ({len(bad_rows)} such vector(s))")
    return matrix


def join(metadata: pd.DataFrame, embeddings: Mapping[str, np.ndarray], source: str,
         max_missing: float = 0.01, what: str = "embedding") -> Table:
    """Inner-join metadata and embeddings (or ``what``) on ``ID`` in metadata order; report missing IDs."""
    present = metadata["ID"].isin(embeddings.keys()).to_numpy()
    n_missing = int((~present).sum())
    if n_missing:
        fraction = n_missing / len(metadata)
        message = (f"{source}: {n_missing} of {len(metadata)} metadata ID(s) "
                   f"({fraction:.2%}) have no {what}, e.g. "
                   f"{list(metadata['ID'][~present][:3])}")
        if fraction > max_missing:
            raise UserError(f"{message}; more than --max-missing {max_missing:.2%}")
        warn(f"{message}; they are left out")
    joined = metadata.loc[present].reset_index(drop=True)
    if len(joined) == 0:
        raise UserError(f"{source}: no metadata ID has an {what}")
    return Table(joined, feature_matrix(list(joined["ID"]), embeddings, source, what))


def read_scores(path: str | Path) -> dict[str, np.ndarray]:
    """A zero-shot scores CSV (columns ``ID`` and ``score``) as ``{ID: [score]}``; IDs unique."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: scores file not found")
    frame = pd.read_csv(path, dtype={"ID": str})
    missing = [column for column in ("ID", SCORE_LABEL) if column not in frame.columns]
    if missing:
        raise UserError(f"{path}: a scores file needs columns 'ID' and 'score' (as zero_shot.py "
                        f"writes); missing {missing}")
    repeated = frame["ID"][frame["ID"].duplicated()].unique()
    if len(repeated):
        raise UserError(f"{path}: {len(repeated)} repeated ID(s) in the scores, e.g. {list(repeated[:3])}")
    values = pd.to_numeric(frame[SCORE_LABEL], errors="coerce").to_numpy(dtype=np.float64)
    return {identifier: values[row:row + 1] for row, identifier in enumerate(frame["ID"])}


def onehot_features(metadata: pd.DataFrame, source: str) -> dict[str, np.ndarray]:
    """``{ID: flat one-hot of its sequence}`` (20 x L values, residue after residue, float32)."""
    if "sequence" not in metadata.columns:
        raise UserError(f"{source}: --features onehot+score needs a 'sequence' column in the metadata")
    return {identifier: onehot_encode(str(sequence).upper()).ravel()
            for identifier, sequence in zip(metadata["ID"], metadata["sequence"], strict=True)}


def append_score(table: Table, scores: Mapping[str, np.ndarray], source: str,
                 max_missing: float) -> Table:
    """``table`` with the zero-shot score as its last feature column (in the features' dtype).

    The score joins on ``ID`` with :func:`join`'s checks (missing IDs up to ``max_missing``
    are left out with a warning; NaN is an error).
    """
    scored = join(table.metadata, scores, source, max_missing, what="score")
    present = table.metadata["ID"].isin(scores.keys()).to_numpy()
    features = table.features[present]
    return Table(scored.metadata, np.column_stack([features, scored.features.astype(features.dtype)]))


# ----------------------------------------------------------------------------- fitting


@dataclass
class Fit:
    """What a fold's fit leaves behind: a predictor, its sparsity, the chosen alpha, the time."""

    predict: Callable[[np.ndarray], np.ndarray]
    num_nonzero_coefs: int
    alpha: float
    fit_seconds: float


def study_lassocv(n_jobs: int | None = -1, precompute: bool | str = "auto") -> LassoCV:
    """The study's regressor: ``LassoCV(max_iter=1000, tol=1e-2, random_state=42)``."""
    return LassoCV(max_iter=MAX_ITER, tol=TOL, random_state=RANDOM_STATE, n_jobs=n_jobs,
                   precompute=precompute)


def make_regressor(name: str, n_jobs: int | None, precompute: bool | str = "auto"):
    """A fresh cross-validated regressor by name, with the study's inner CV (5 folds)."""
    if name == "lassocv":
        return study_lassocv(n_jobs, precompute)
    if name == "elasticnetcv":
        return ElasticNetCV(l1_ratio=list(ELASTICNET_L1_RATIOS), max_iter=MAX_ITER, tol=TOL,
                            random_state=RANDOM_STATE, n_jobs=n_jobs, precompute=precompute)
    if name == "ridgecv":
        return RidgeCV(alphas=RIDGE_ALPHAS, cv=KFold(INNER_FOLDS))
    raise UserError(f"unknown regressor {name!r}: use {', '.join(REGRESSORS)}")


def gram_decision(n_train: int, n_features: int) -> bool | str:
    """``precompute`` equal to what ``'auto'`` decides on the full feature set in every fit.

    ``'auto'`` uses the Gram matrix when samples outnumber features; the inner fits see about
    4/5 of ``n_train``. When all fits agree, fix the decision so that removing constant
    columns cannot flip it; otherwise keep ``'auto'``.
    """
    smallest_inner = n_train - -(-n_train // INNER_FOLDS)
    if smallest_inner > n_features:
        return True
    if n_train <= n_features:
        return False
    return "auto"


def precompute_setting(n_train: int, n_features: int, n_kept: int) -> bool | str:
    """``'auto'`` when it decides as it would on all columns, else that decision fixed.

    ``'auto'`` itself is kept whenever possible: an explicit ``True`` takes a different
    (mathematically equal) code path in scikit-learn and changes the last bits of the fit.
    """
    decision = gram_decision(n_train, n_features)
    return "auto" if decision == gram_decision(n_train, n_kept) else decision


def varying_columns(X_train: np.ndarray) -> np.ndarray:
    """Indices of the columns that are not constant over the training rows."""
    return np.flatnonzero(np.ptp(X_train, axis=0) != 0)


def fit_fold(X_train: np.ndarray, y_train: np.ndarray, options: Options) -> Fit:
    """Fit ``options.regressor`` on one training part (exact protocol, or ``fit_fast_lasso``).

    Constant columns are left out of the fit; predictions use the full coefficient vector
    (zeros for those columns) on a column-major copy of the rows: the arithmetic of
    scikit-learn's ``predict`` on the study's pandas frames (which are column-major). That
    matters: float32 predictions of one-hot models are full of mathematical ties, and a
    different summation order rounds them apart in another order, changing Spearman's rho
    although the coefficients are bitwise the same.
    """
    start = time.perf_counter()
    n_features = X_train.shape[1]
    keep = varying_columns(X_train)
    if len(keep) == 0 or len(keep) == n_features:
        keep = np.arange(n_features)
        X_kept = np.asfortranarray(X_train)
    else:
        X_kept = np.asfortranarray(X_train[:, keep])
    with sklearn.config_context(assume_finite=True):
        if options.fast and options.regressor == "lassocv":
            with sklearn.config_context(skip_parameter_validation=True):
                model = fit_fast_lasso(X_kept, y_train)
        else:
            model = make_regressor(options.regressor, options.n_jobs,
                                   precompute_setting(len(X_train), n_features, len(keep)))
            model.fit(X_kept, y_train)
    seconds = time.perf_counter() - start
    coef = np.zeros(n_features, dtype=model.coef_.dtype)
    coef[keep] = np.ravel(model.coef_)
    intercept = model.intercept_
    return Fit(predict=lambda X: np.asfortranarray(X) @ coef + intercept, num_nonzero_coefs=int(np.sum(coef != 0)),
               alpha=float(model.alpha_), fit_seconds=seconds)


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
    """One inner CV fold, centred once (the training part, its Gram matrix, the test part), and
    the fold's walk down the alpha grid: where it stands and the coefficients walked so far."""

    X_centred: np.ndarray
    y_centred: np.ndarray
    X_mean: np.ndarray
    y_mean: float
    gram: np.ndarray | None
    Xy: np.ndarray | None
    X_test: np.ndarray
    y_test: np.ndarray
    coef: np.ndarray = field(init=False)
    walked: list[np.ndarray] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        """The walk starts from all-zero coefficients, as ``enet_path`` does."""
        self.coef = np.zeros(self.X_centred.shape[1])

    @classmethod
    def make(cls, X: np.ndarray, X_rows: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
             gram: np.ndarray | None) -> InnerFold:
        """Centre the training rows as LassoCV does; ``gram`` is their centred Gram matrix, if used.

        ``X`` and ``X_rows`` are the same rows, column-major (what the solver works on) and
        row-major (fast to gather rows from). The column means and the centring follow
        scikit-learn's ``_path_residuals``/``_pre_fit`` in the features' dtype; the solver
        itself accumulates in float64 (:mod:`plmtransfer.coordinate_descent`).
        """
        X_mean = np.average(X_rows[train], axis=0)
        X_centred = rows_of(X, train)
        X_centred -= X_mean
        y_train = y[train].astype(X.dtype)
        y_mean = np.average(y_train, axis=0)
        y_centred = y_train - y_mean
        Xy = None
        if gram is not None:
            gram = np.ascontiguousarray(gram, dtype=X.dtype)
            Xy = np.dot(X_centred.T, y_centred).astype(np.float64)
        return cls(X_centred, y_centred, X_mean.astype(np.float64), float(y_mean), gram, Xy, X_rows[test], y[test])

    @cached_property
    def column_norms2(self) -> np.ndarray:
        """Squared norms of the centred training columns (float64): the solver's coordinate scales."""
        return np.einsum("ij,ij->j", self.X_centred, self.X_centred, dtype=np.float64)

    @cached_property
    def y_norm2(self) -> float:
        """‖y‖² of the centred training target: the scale of the solver's tolerance and of its gap."""
        return float(np.dot(self.y_centred.astype(np.float64), self.y_centred))

    def walk(self, alphas: np.ndarray) -> np.ndarray:
        """Walk on along ``alphas`` (warm-started where the walk stands); the test MSE at each.

        LassoCV's path for this fold (same grid, centring, tolerance and warm starts) solved by
        :mod:`plmtransfer.coordinate_descent`, scikit-learn's algorithm in one compiled call
        that releases the GIL. The solutions are appended to :attr:`walked`.
        """
        from plmtransfer import coordinate_descent  # numba: imported by --fast only, not by every job

        penalties = np.asarray(alphas, dtype=np.float64) * len(self.X_centred)
        if self.gram is None:
            solutions, unconverged = coordinate_descent.walk_data(
                self.X_centred, self.y_centred, self.column_norms2, self.coef, penalties, TOL, MAX_ITER)
        else:
            solutions, unconverged = coordinate_descent.walk_gram(
                self.gram, self.Xy, self.y_norm2, self.coef, penalties, TOL, MAX_ITER)
        if unconverged:
            warnings.warn(f"coordinate descent did not reach tol={TOL} within {MAX_ITER} epochs at "
                          f"{unconverged} alpha(s) of an inner fold", ConvergenceWarning, stacklevel=2)
        self.walked.append(solutions)
        return self.test_mse(solutions)

    def test_mse(self, coefs: np.ndarray) -> np.ndarray:
        """Mean squared error on the test part of each column of ``coefs``, as LassoCV computes it.

        At tol=1e-2 most alphas leave the warm start as it is, so consecutive columns are
        often equal: each distinct column is evaluated once. The predictions are computed in
        the features' dtype, as LassoCV computes them.
        """
        distinct = np.concatenate([[True], np.any(coefs[:, 1:] != coefs[:, :-1], axis=0)])
        unique_coefs = coefs[:, distinct]
        intercepts = self.y_mean - np.dot(self.X_mean, unique_coefs)
        residues = self.X_test @ unique_coefs.astype(self.X_test.dtype) - self.y_test[:, np.newaxis]
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
    """
    tests = [test for _, test in folds]
    if sorted(np.concatenate(tests).tolist()) != list(range(len(X))):
        raise ValueError("the test parts of the inner folds must partition the rows")
    Z = X - np.average(X, axis=0)
    parts = [rows_of(Z, test) for test in tests]
    part_grams = [part.T @ part for part in parts]
    part_sums = [part.sum(axis=0) for part in parts]
    gram_all, sum_all = sum(part_grams), sum(part_sums)
    grams = []
    for (train, _), part_gram, part_sum in zip(folds, part_grams, part_sums, strict=True):
        shift = (sum_all - part_sum) / len(train)
        gram = gram_all - part_gram
        gram -= len(train) * np.outer(shift, shift)
        grams.append(gram)
    return grams


def walk_chunks(n_alphas: int, patience: int = FAST_PATIENCE) -> list[np.ndarray]:
    """Alpha indices in the chunks the fast walk takes: ``patience + 1`` first (the walk
    cannot stop earlier), then ``FAST_CHUNK`` at a time (the stop is checked after each chunk)."""
    starts = [0, *range(patience + 1, n_alphas, FAST_CHUNK)]
    return [np.arange(start, min(end, n_alphas)) for start, end in zip(starts, [*starts[1:], n_alphas], strict=True)]


def walk_finished(mse: np.ndarray, last: int, patience: int = FAST_PATIENCE,
                  null_margin: float | None = FAST_NULL_MARGIN) -> bool:
    """Whether the fast walk may stop after alpha index ``last`` of the mean inner-CV MSE curve ``mse``.

    It stops ``patience`` alphas past the running minimum, but not while that minimum is
    within a relative ``null_margin`` of the first alpha's MSE: at the largest alpha every
    coefficient is zero (the null model), and a curve that has not yet fallen clearly below
    it can stay flat for many alphas before it falls (seen on real assays: 10 flat alphas,
    then the study's minimum 12 alphas further on). ``None`` switches that guard off.
    """
    best = int(np.argmin(mse))
    if last - best < patience:
        return False
    return null_margin is None or mse[best] < mse[0] * (1 - null_margin)


def chosen_alpha_index(mse: np.ndarray) -> int:
    """The alpha index picked from a (partly walked) curve: the largest alpha whose MSE is within
    a relative ``FAST_TIE`` of the minimum, as LassoCV's argmin picks the first of tied alphas."""
    return int(np.flatnonzero(mse <= mse.min() * (1 + FAST_TIE))[0])


def fit_fast_lasso(X_train: np.ndarray, y_train: np.ndarray) -> Lasso:
    """LassoCV's path walked only as far as it is useful: the study's grid with early stopping.

    The study's 100 alphas, inner 5-fold CV, tolerance and warm starts are kept: the five
    inner folds walk the grid from the largest alpha down in lock step, in the chunks of
    :func:`walk_chunks`, each warm-started from the last (:meth:`InnerFold.walk`, solved by
    :mod:`plmtransfer.coordinate_descent`: scikit-learn's algorithm and stopping rule, compiled,
    so the path meets the same duality-gap tolerance but is not bitwise LassoCV's). The walk
    stops once the mean inner-CV MSE has not improved for ``FAST_PATIENCE`` alphas (a factor
    of ~2 in alpha) and its minimum lies clearly below the null model's
    (:func:`walk_finished`), skipping the costly small-alpha tail. MSEs within a relative
    ``FAST_TIE`` of the minimum count as tied and the largest such alpha wins, as LassoCV's
    argmin picks the first of tied alphas; the best alpha is refitted with scikit-learn's
    ``Lasso`` on the whole training part, as LassoCV refits. Unless the CV curve has a lower minimum beyond the
    patience window, or two alphas' MSEs are within the solver's tolerance of each other,
    this is the study's alpha and model.

    Speed beyond the shorter walk: when the inner training parts have more rows than
    columns (LassoCV's own rule for using the Gram matrix) their Gram matrices are
    assembled from those of the five test parts (:func:`inner_training_grams`); the caller
    skips scikit-learn's parameter validation (``skip_parameter_validation``) in the refit.
    """
    alphas = study_alpha_grid(X_train, y_train)
    folds = list(KFold(INNER_FOLDS).split(X_train))
    use_gram = gram_decision(len(X_train), X_train.shape[1]) is True
    grams = inner_training_grams(X_train, folds) if use_gram else [None] * len(folds)
    X_rows = np.ascontiguousarray(X_train)
    inner = [InnerFold.make(X_train, X_rows, y_train, train, test, gram)
             for (train, test), gram in zip(folds, grams, strict=True)]
    mse = np.full(len(alphas), np.inf)
    for chunk in walk_chunks(len(alphas)):
        mse[chunk] = np.mean([fold.walk(alphas[chunk]) for fold in inner], axis=0)
        if walk_finished(mse, chunk[-1]):
            break
    best = chosen_alpha_index(mse)
    model = Lasso(alpha=alphas[best], max_iter=MAX_ITER, tol=TOL, random_state=RANDOM_STATE)
    model.fit(X_train, y_train)
    model.alpha_ = float(alphas[best])
    return model


def score(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """R², MAE, RMSE and Spearman's rho of predictions (the study's scikit-learn/scipy metrics).

    R², MAE and RMSE are the formulas of scikit-learn's ``r2_score`` (a constant target gives
    1.0 for a perfect prediction, else 0.0), ``mean_absolute_error`` and the root of
    ``mean_squared_error``, in float64 as they compute them, without their per-call input
    checks (a tenth of a small fold's time under ``--fast``).
    rho is NaN when the predictions (or targets) are constant, e.g. a one-hot model on
    positions it never saw in training: the NaN says it, without scipy's warning (checked
    here rather than silenced, because silencing warnings is not thread-safe).
    """
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    errors = y_true - y_pred
    residual_sum = float(np.dot(errors, errors))
    total_sum = float(np.sum((y_true - y_true.mean()) ** 2))
    if total_sum:
        r2 = 1.0 - residual_sum / total_sum
    else:
        r2 = 1.0 if residual_sum == 0 else 0.0
    constant = np.ptp(y_true) == 0 or np.ptp(y_pred) == 0
    return {
        "R2": r2,
        "MAE": float(np.mean(np.abs(errors))),
        "RMSE": float(np.sqrt(residual_sum / len(errors))),
        "rho": np.nan if constant else float(spearmanr(y_true, y_pred)[0]),
    }


def outer_folds(metadata: pd.DataFrame, cv: str) -> list[splits.Split]:
    """The outer (train, test) index pairs of ``cv`` over the rows of ``metadata``."""
    if cv == "random":
        return splits.random_folds(len(metadata))
    needed = "set" if cv == "predefined" else "mutant"
    if needed not in metadata.columns:
        raise UserError(f"--cv {cv} needs a '{needed}' column in the metadata")
    if cv == "predefined":
        return splits.predefined_folds(metadata["set"])
    if cv == "contiguous":
        return splits.contiguous_folds(metadata["mutant"])
    if cv == "modulo":
        return splits.modulo_folds(metadata["mutant"])
    raise UserError(f"unknown --cv {cv!r}: use {', '.join(splits.CV_SCHEMES)}")


def single_mutant_rows(metadata: pd.DataFrame, source: str) -> np.ndarray:
    """Rows holding one substitution, for the position-based schemes (ProteinGym's choice).

    Multi-mutants span several position folds and rows without a position (``WT``) belong to
    none; both are left out with a warning giving their counts.
    """
    mutants = metadata["mutant"].astype(str)
    multi = mutants.map(splits.is_multi_mutant).to_numpy(dtype=bool)
    single = mutants.map(splits.is_single_substitution).to_numpy(dtype=bool)
    if multi.any():
        warn(f"{source}: {int(multi.sum())} multi-mutant row(s) left out: position-based CV "
             "is defined on single mutants (as in ProteinGym)")
    other = ~multi & ~single
    if other.any():
        warn(f"{source}: {int(other.sum())} row(s) without a substitution position (e.g. "
             f"{mutants[other].iloc[0]!r}) left out of position-based CV")
    return np.flatnonzero(single)


class UndefinedSchemeError(UserError):
    """A position-based CV scheme on an assay of (almost) only multi-mutants: there is nothing to
    split, a property of the data rather than an input error (ProteinGym scores such assays under
    random CV only)."""


def outer_split(metadata: pd.DataFrame, cv: str, source: str) -> tuple[np.ndarray, list[splits.Split]]:
    """The rows an outer CV scheme uses and its folds over them: the one split of every regression.

    Returns ``(rows, folds)``: ``rows`` index ``metadata`` (all rows, or the single mutants under
    ``contiguous``/``modulo``), and each fold's (train, test) indices count within ``rows``.
    LassoCV (:func:`cross_validate`) and fine-tuning (:mod:`plmtransfer.finetune`) both call
    it, so the same metadata and ``cv`` give both the same test rows in every fold.
    """
    rows = np.arange(len(metadata))
    if cv in ("contiguous", "modulo") and "mutant" in metadata.columns:
        rows = single_mutant_rows(metadata, source)
        if len(rows) < MIN_ROWS <= len(metadata):
            raise UndefinedSchemeError(f"{source}: --cv {cv} is not defined for this data set: "
                                       f"{len(rows)} single-substitution row(s) of {len(metadata)}")
    used = metadata.iloc[rows].reset_index(drop=True)
    check_target_usable(used["target"].to_numpy(dtype=np.float64), source)
    return rows, outer_folds(used, cv)


def scale(X: np.ndarray) -> np.ndarray:
    """Min-max scale every column to [0, 1] (constant columns become 0), keeping the dtype."""
    return MinMaxScaler(feature_range=(0, 1)).fit_transform(X)


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


def cross_validate(table: Table, options: Options, source: str = "input",
                   progress: Callable | None = None) -> pd.DataFrame:
    """Run the protocol on a joined table; one row per outer fold with ``RESULT_COLUMNS``.

    ``--fast`` fits the outer folds in ``n_jobs`` threads (see :func:`fast_outer_folds`);
    the default fits them one after the other, each LassoCV with its own ``n_jobs``.
    """
    rows, folds = outer_split(table.metadata, options.cv, source)
    if len(rows) < len(table.metadata):
        table = Table(table.metadata.iloc[rows].reset_index(drop=True), table.features[rows])
    target = table.target
    features = scale(table.features) if options.scaling == "global" else table.features
    features = np.asfortranarray(features)

    def result_of(split: splits.Split) -> dict:
        """Fit one outer fold's training part and score it on both parts."""
        train, test = split
        X_train, X_test = rows_of(features, train), rows_of(features, test)
        if options.scaling == "fold":
            scaler = MinMaxScaler(feature_range=(0, 1)).fit(X_train)
            X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        fit = fit_fold(X_train, target[train], options)
        train_scores = score(target[train], fit.predict(X_train))
        test_scores = score(target[test], fit.predict(X_test))
        return {"Model": MODEL_NAMES[options.regressor],
                **{f"{name}_score_train": value for name, value in train_scores.items() if name != "rho"},
                **{f"{name}_score_test": value for name, value in test_scores.items() if name != "rho"},
                "rho_score_train": train_scores["rho"], "rho_score_test": test_scores["rho"],
                "num_nonzero_coefs": fit.num_nonzero_coefs, "alpha": fit.alpha, "fit_seconds": fit.fit_seconds}

    if options.fast and options.regressor == "lassocv":
        results = fast_outer_folds(result_of, folds, options.n_jobs)
    else:
        results = map(result_of, folds)
    fold_numbers = range(1, len(folds) + 1)
    rows = [{"Fold": fold, **row}
            for row, fold in zip(results, progress(fold_numbers) if progress else fold_numbers, strict=True)]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def fast_outer_folds(result_of: Callable[[splits.Split], dict], folds: list[splits.Split],
                     n_jobs: int | None) -> Iterator[dict]:
    """``result_of`` of every fold, in order, computed in ``n_jobs`` threads with BLAS on one thread.

    The compiled coordinate descent and the Gram products release the GIL, so outer folds run
    in parallel in threads (no copies of the data). BLAS is held to one thread so that its
    own threads (for the Gram blocks and test-set predictions) do not compete with the
    fold threads for the cores.
    """
    workers = max(1, min(len(folds), effective_n_jobs(n_jobs)))
    with threadpool_limits(limits=1):
        if workers == 1:
            yield from map(result_of, folds)
            return
        with ThreadPoolExecutor(workers) as pool:
            yield from pool.map(result_of, folds)


def sample_sizes(n_rows: int, sizes: Sequence[int] = STUDY_SAMPLE_SIZES) -> list[int]:
    """The learning-curve sizes (the study's by default) below ``n_rows``, then ``n_rows`` itself."""
    return [size for size in sizes if size < n_rows] + [n_rows]


def label_results(results: pd.DataFrame, method: str, dataset: str | None,
                  embedding_model: str | None) -> pd.DataFrame:
    """Add ``Compression_method`` and, when given, ``Dataset`` and ``Embedding_model`` columns."""
    results = results.assign(Compression_method=method)
    if dataset is not None:
        results["Dataset"] = dataset
    if embedding_model is not None:
        results["Embedding_model"] = embedding_model
    return results


def load_inputs(embeddings_path: str | Path, metadata_path: str | Path,
                options: Options) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Read and check the inputs; drop unusable targets; validate the options.

    Returns the metadata, the features by ID (the embeddings, or one-hot features for
    ``onehot+score``) and the zero-shot scores by ID (None when not augmenting).
    """
    for value, allowed, flag in ((options.regressor, REGRESSORS, "--regressor"),
                                 (options.cv, splits.CV_SCHEMES, "--cv"),
                                 (options.scaling, SCALINGS, "--scaling")):
        if value not in allowed:
            raise UserError(f"unknown {flag} {value!r}: use {', '.join(allowed)}")
    if options.fast and options.regressor != "lassocv":
        raise UserError(f"--fast applies to --regressor lassocv only, not {options.regressor}")
    if not 0 <= options.max_missing <= 1:
        raise UserError(f"--max-missing must be a fraction in [0, 1], got {options.max_missing}")
    if options.features not in FEATURE_SETS:
        raise UserError(f"unknown --features {options.features!r}: use {', '.join(FEATURE_SETS)}")
    if options.features == "onehot+score" and options.augment is not None:
        raise UserError("--features onehot+score reads the scores from --input; drop --augment")
    metadata = clean_targets(read_metadata(metadata_path), str(metadata_path))
    if options.features == "onehot+score":
        return metadata, onehot_features(metadata, str(metadata_path)), read_scores(embeddings_path)
    scores = read_scores(options.augment) if options.augment is not None else None
    return metadata, load_compressed(embeddings_path), scores


def joined_table(metadata: pd.DataFrame, embeddings: Mapping[str, np.ndarray],
                 scores: Mapping[str, np.ndarray] | None, source: str, options: Options,
                 max_missing: float) -> Table:
    """The joined features, with the zero-shot score appended when there is one."""
    table = join(metadata, embeddings, source, max_missing)
    if scores is None:
        return table
    scores_source = options.augment if options.features == "input" else "scores"
    return append_score(table, scores, f"{source} x {scores_source}", max_missing)


def features_label(embeddings_path: str | Path, options: Options) -> str:
    """The ``Compression_method`` of the results: the file's method, ``+score`` when augmented."""
    if options.features == "onehot+score":
        return "onehot+score"
    method = method_from_path(embeddings_path)
    return f"{method}+score" if options.augment is not None else method


def run(embeddings_path: str | Path, metadata_path: str | Path, options: Options = Options(),
        dataset: str | None = None, embedding_model: str | None = None,
        progress: Callable | None = None) -> pd.DataFrame:
    """The study's ``reg_LassoCV.py``: one result row per outer fold for one embedding file."""
    metadata, embeddings, scores = load_inputs(embeddings_path, metadata_path, options)
    source = f"{metadata_path} x {embeddings_path}"
    table = joined_table(metadata, embeddings, scores, source, options, options.max_missing)
    try:
        results = cross_validate(table, options, source, progress)
    except UndefinedSchemeError as reason:
        warn(f"{reason}; no folds written")
        results = pd.DataFrame(columns=RESULT_COLUMNS)
    return label_results(results, features_label(embeddings_path, options), dataset, embedding_model)


def run_sampling(embeddings_path: str | Path, metadata_path: str | Path,
                 options: Options = Options(), dataset: str | None = None,
                 embedding_model: str | None = None,
                 progress: Callable | None = None,
                 sizes: Sequence[int] = STUDY_SAMPLE_SIZES) -> pd.DataFrame:
    """The study's ``reg_LassoCV_sampling.py``: the protocol on random subsets of growing size.

    Each size draws metadata rows with ``DataFrame.sample(n, random_state=42)`` and joins them
    (in the sampled order) with the embeddings.
    """
    metadata, embeddings, scores = load_inputs(embeddings_path, metadata_path, options)
    source = f"{metadata_path} x {embeddings_path}"
    joined_table(metadata, embeddings, scores, source, options, options.max_missing)
    parts = []
    sizes = sample_sizes(len(metadata), sizes)
    for size in progress(sizes) if progress else sizes:
        sampled = metadata.sample(n=size, random_state=RANDOM_STATE)
        table = joined_table(sampled, embeddings, scores, f"{source} (sample of {size})", options, 1.0)
        try:
            results = cross_validate(table, options, f"{source} (sample of {size})")
        except UndefinedSchemeError as reason:
            warn(f"{reason}; no folds written for this size")
            continue
        parts.append(results.assign(Sample_size=size))
    results = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*RESULT_COLUMNS, "Sample_size"])
    return label_results(results, features_label(embeddings_path, options), dataset, embedding_model)
