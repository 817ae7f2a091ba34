"""Cross-validated regression on compressed embeddings: the study's LassoCV protocol and variants.

The default reproduces Vieira, Handojo & Wilke (2025), ``scripts/reg_LassoCV.py``:

1. inner-join the metadata (``ID``, ``target``) and the embeddings on ``ID``, in the
   metadata's row order;
2. scale every feature to [0, 1] over all joined rows (``MinMaxScaler``);
3. outer ``KFold(5, shuffle=True, random_state=42)``;
4. in each outer fold fit ``LassoCV(max_iter=1000, tol=1e-2, random_state=42)`` (inner 5-fold
   CV over its 100-alpha path) on the training part;
5. report R², MAE, RMSE and Spearman's rho on train and test, the number of non-zero
   coefficients, the selected alpha and the fit time, one row per fold; then ``converged``:
   whether the refit at the chosen alpha reached ``tol`` (:func:`refit_converged`). The
   solver's convergence warnings are counted into one line per input file (:class:`Convergence`).

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

Combined feature sets (docs/choosing.md): ``append`` names another compressed feature file (e.g.
the ``contact_*`` methods' contact-map features) whose columns join the input's on ``ID`` and are
scaled with them (results labelled ``<method>+<appended method>``); ``stack`` names one fitted by a
second model, the two combined by a second-level fit on out-of-fold predictions made inside each outer
training fold (:mod:`plmtransfer.learn.stacking`; labelled ``<method>+stacked-<stacked method>``).

The inputs are read and joined by :mod:`plmtransfer.learn.features`.

Protocol variants (``inner_cv``; docs/protocol.md says what each answers): the alpha search's inner
CV is the study's unshuffled ``KFold(5)`` by default (``study``), ``KFold(5, shuffle=True,
random_state=42)`` (``shuffled``), ``GroupKFold(5)`` on the mutated position (``grouped``: single
mutants only, so that no inner fold splits one position) or, under ``cv="predefined"``, one
``PredefinedSplit`` by the metadata's ``validation`` column (``validation``: FLIP's protocol, alpha
tuned on the validation rows, then refitted on every training row), with the same outer folds and any
regressor. Every result row names its protocol (``Protocol``, :func:`protocol_name`) and carries
what the statistics need to tell uninformative inputs (:func:`feature_information`): the largest
column SD relative to the features' scale (``feature_sd_max``; 0 for a vector identical in every
protein, such as a left-to-right model's state after the start token) and a signature of the scaled
features (``feature_signature``; equal for two inputs identical after MinMax scaling).

``solver`` says how LassoCV is solved (docs/fast-lasso.md): ``sklearn``, scikit-learn's LassoCV as
the study called it; ``compiled``, the same search (the whole grid, LassoCV's choice of alpha)
solved by a compiled coordinate descent (:class:`plmtransfer.learn.lasso.CompiledLassoCV` with the
study's settings: :func:`study_compiled_lassocv`); ``fast``, that search stopped early along the
grid. Both compiled solvers fit the outer folds in threads with BLAS on one thread
(:func:`threaded_outer_folds`).
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from joblib import effective_n_jobs
from scipy.stats import spearmanr
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNetCV, LassoCV, RidgeCV
from sklearn.model_selection import GroupKFold, KFold, PredefinedSplit
from sklearn.preprocessing import MinMaxScaler
from threadpoolctl import threadpool_limits

from plmtransfer import layout
from plmtransfer.errors import UserError
from plmtransfer.io import load_compressed
from plmtransfer.learn import splits
from plmtransfer.learn.features import (
    Table,
    append_columns,
    append_score,
    clean_targets,
    join,
    onehot_features,
    read_feature_files,
    read_metadata,
    read_scores,
    warn,
)
from plmtransfer.learn.lasso import CompiledLassoCV, gram_decision, rows_of
from plmtransfer.options import FEATURE_SETS, INNER_CV_SCHEMES, REGRESSORS, SCALINGS, SOLVERS, STUDY_SAMPLE_SIZES
from plmtransfer.options import RegressOptions as Options  # the regression's options: regress.Options

MODEL_NAMES = {"lassocv": "Lasso", "ridgecv": "Ridge", "elasticnetcv": "ElasticNet"}
MIN_ROWS = 10
INNER_FOLDS = 5
MAX_ITER = 1000
TOL = 1e-2
RANDOM_STATE = 42
RIDGE_ALPHAS = np.logspace(-4, 4, 17)
ELASTICNET_L1_RATIOS = (0.1, 0.5, 0.7, 0.9, 0.95, 0.99, 1.0)
RESULT_COLUMNS = ["Model", "Fold", "R2_score_train", "MAE_score_train", "RMSE_score_train",
                  "R2_score_test", "MAE_score_test", "RMSE_score_test", "rho_score_train",
                  "rho_score_test", "num_nonzero_coefs", "alpha", "fit_seconds"]
CONVERGED = "converged"  # per-fold column after RESULT_COLUMNS: the chosen alpha's refit reached tol (refit_converged)
PREDICTION_COLUMNS = ["ID", "Fold", "target", "prediction"]
# appended after the labels (Compression_method, Dataset, Embedding_model): the protocol and the input's information
PROTOCOL_COLUMN = "Protocol"
VALIDATION_COLUMN = "validation"  # --inner-cv validation: True on the training rows that tune (FLIP's column)
FEATURE_INFO_COLUMNS = ["feature_sd_max", "feature_signature"]
SIGNATURE_PROJECTIONS = 3
FEATURE_BLOCK = 1 << 22  # values per block of rows in feature_information's float64 passes (32 MiB)
DEFAULT_OPTIONS = Options()


def method_from_path(path: str | Path) -> str:
    """The compression method named by a file: ``..._mean.pkl`` -> ``mean``, ``..._h_avg.pkl`` -> ``h_avg``."""
    from plmtransfer.embed.methods import METHODS

    return layout.compressed_method(path, METHODS)


def check_target_usable(target: np.ndarray, source: str) -> None:
    """Error if fewer than ``MIN_ROWS`` rows remain or the target is constant."""
    if len(target) < MIN_ROWS:
        raise UserError(f"{source}: only {len(target)} row(s) with a usable target; "
                        f"need at least {MIN_ROWS}")
    if np.all(target == target[0]):
        raise UserError(f"{source}: the target is constant ({target[0]}); nothing to regress")


# ----------------------------------------------------------------------------- fitting


@dataclass
class Fit:
    """What a fold's fit leaves behind: a predictor, its sparsity, the chosen alpha, the time, and
    its coordinate descent: the number of fits along the inner folds' alpha paths and whether the
    refit at the chosen alpha converged (:func:`refit_converged`)."""

    predict: Callable[[np.ndarray], np.ndarray]
    num_nonzero_coefs: int
    alpha: float
    fit_seconds: float
    path_fits: int = 0
    converged: bool = True


def study_lassocv(n_jobs: int | None = -1, precompute: bool | str = "auto", cv=None) -> LassoCV:
    """The study's regressor: ``LassoCV(max_iter=1000, tol=1e-2, random_state=42)``; ``cv`` its inner CV
    (None: LassoCV's default, 5 unshuffled folds, the study's)."""
    return LassoCV(max_iter=MAX_ITER, tol=TOL, random_state=RANDOM_STATE, n_jobs=n_jobs,
                   precompute=precompute, cv=cv)


def study_compiled_lassocv(cv=INNER_FOLDS, exact: bool = False) -> CompiledLassoCV:
    """The compiled search with the study's LassoCV settings and inner CV ``cv``: the whole grid and
    LassoCV's argmin when ``exact`` (``--solver compiled``), else the early stop (``--solver fast``)."""
    if exact:
        return CompiledLassoCV(cv=cv, max_iter=MAX_ITER, tol=TOL, random_state=RANDOM_STATE, patience=None, tie=0.0)
    return CompiledLassoCV(cv=cv, max_iter=MAX_ITER, tol=TOL, random_state=RANDOM_STATE)


def inner_cv_folds(inner_cv: str, groups: np.ndarray | None = None):
    """The inner CV of ``inner_cv`` for a training part, in the form the ``*CV`` estimators take.

    ``study``: ``KFold(5)`` without shuffling (LassoCV's default); ``shuffled``: ``KFold(5,
    shuffle=True, random_state=42)``; ``grouped``: the (train, test) pairs of ``GroupKFold(5)`` on
    ``groups`` (the training rows' mutated positions), so no inner fold splits one position;
    ``validation``: the one pair of ``PredefinedSplit`` on ``groups`` (the training rows' validation
    flags): fit on the rows flagged False, score on those flagged True (the estimator then refits on all).
    """
    if inner_cv == "study":
        return KFold(INNER_FOLDS)
    if inner_cv == "shuffled":
        return KFold(INNER_FOLDS, shuffle=True, random_state=RANDOM_STATE)
    if inner_cv == "grouped":
        if groups is None:
            raise UserError("--inner-cv grouped needs the mutated position of every training row")
        return list(GroupKFold(INNER_FOLDS).split(np.zeros((len(groups), 1)), groups=groups))
    if inner_cv == "validation":
        if groups is None:
            raise UserError(f"--inner-cv validation needs the '{VALIDATION_COLUMN}' flag of every training row")
        return list(PredefinedSplit(np.where(groups, 0, -1)).split())
    raise UserError(f"unknown --inner-cv {inner_cv!r}: use {', '.join(INNER_CV_SCHEMES)}")


def make_regressor(name: str, n_jobs: int | None, precompute: bool | str = "auto", cv=None):
    """A fresh cross-validated regressor by name with inner CV ``cv`` (None: the study's, 5 unshuffled folds)."""
    if name == "lassocv":
        return study_lassocv(n_jobs, precompute, cv)
    if name == "elasticnetcv":
        return ElasticNetCV(l1_ratio=list(ELASTICNET_L1_RATIOS), max_iter=MAX_ITER, tol=TOL,
                            random_state=RANDOM_STATE, n_jobs=n_jobs, precompute=precompute, cv=cv)
    if name == "ridgecv":
        return RidgeCV(alphas=RIDGE_ALPHAS, cv=KFold(INNER_FOLDS) if cv is None else cv)
    raise UserError(f"unknown regressor {name!r}: use {', '.join(REGRESSORS)}")


def precompute_setting(n_train: int, n_features: int, n_kept: int, smallest_inner: int | None = None) -> bool | str:
    """``'auto'`` when it decides as it would on all columns, else that decision fixed.

    ``'auto'`` itself is kept whenever possible: an explicit ``True`` takes a different
    (mathematically equal) code path in scikit-learn and changes the last bits of the fit.
    ``smallest_inner``: the smallest inner training part when the inner folds differ in size (GroupKFold).
    """
    decision = gram_decision(n_train, n_features, INNER_FOLDS, smallest_inner)
    return "auto" if decision == gram_decision(n_train, n_kept, INNER_FOLDS, smallest_inner) else decision


def varying_columns(X_train: np.ndarray) -> np.ndarray:
    """Indices of the columns that are not constant over the training rows."""
    return np.flatnonzero(np.ptp(X_train, axis=0) != 0)


def fit_fold(X_train: np.ndarray, y_train: np.ndarray, options: Options, groups: np.ndarray | None = None) -> Fit:
    """Fit ``options.regressor`` on one training part (exact protocol, or :func:`study_compiled_lassocv`).

    The inner CV is ``options.inner_cv``'s (:func:`inner_cv_folds`; ``groups``: the training rows'
    mutated positions for ``grouped``, validation flags for ``validation``); the study's keeps the
    estimators' own default.

    Constant columns are left out of the fit; predictions use the full coefficient vector
    (zeros for those columns) on a column-major copy of the rows: the arithmetic of
    scikit-learn's ``predict`` on the study's pandas frames (which are column-major). That
    matters: float32 predictions of one-hot models are full of mathematical ties, and a
    different summation order rounds them apart in another order, changing Spearman's rho
    although the coefficients are bitwise the same.
    """
    start = time.perf_counter()
    n_rows, n_features = X_train.shape
    keep = varying_columns(X_train)
    if len(keep) == 0 or len(keep) == n_features:
        keep = np.arange(n_features)
        X_kept = np.asfortranarray(X_train)
    else:
        X_kept = np.asfortranarray(X_train[:, keep])
    del X_train  # the fit reads X_kept; a caller that passes a temporary frees its copy here
    cv = None if options.inner_cv == "study" else inner_cv_folds(options.inner_cv, groups)
    smallest_inner = min(len(train) for train, _ in cv) if isinstance(cv, list) else None
    with sklearn.config_context(assume_finite=True):
        if compiled_solver(options):
            with sklearn.config_context(skip_parameter_validation=True):
                model = study_compiled_lassocv(INNER_FOLDS if cv is None else cv,
                                               exact=options.solver == "compiled").fit(X_kept, y_train)
        else:
            model = make_regressor(options.regressor, options.n_jobs,
                                   precompute_setting(n_rows, n_features, len(keep), smallest_inner), cv)
            model.fit(X_kept, y_train)
    seconds = time.perf_counter() - start
    coef = np.zeros(n_features, dtype=model.coef_.dtype)
    coef[keep] = np.ravel(model.coef_)
    intercept = model.intercept_
    return Fit(predict=lambda X: np.asfortranarray(X) @ coef + intercept, num_nonzero_coefs=int(np.sum(coef != 0)),
               alpha=float(model.alpha_), fit_seconds=seconds,
               path_fits=int(np.isfinite(getattr(model, "mse_path_", np.empty(0))).sum()),
               converged=refit_converged(model, y_train))


def refit_converged(model, y_train: np.ndarray) -> bool:
    """Whether a fitted CV regressor's refit at the chosen alpha reached the duality-gap tolerance.

    scikit-learn's coordinate descent stops before ``max_iter`` only on reaching ``tol``; at
    ``max_iter`` its last duality gap decides, compared as the solver compares it: the gap
    (``dual_gap_`` is the gap / n_samples) against ``tol`` x ||y - mean(y)||². A closed-form fit
    (RidgeCV: no ``n_iter_``) has nothing to converge.
    """
    n_iter = getattr(model, "n_iter_", None)
    if n_iter is None or int(n_iter) < model.max_iter:
        return True
    centred = np.asarray(y_train, dtype=np.float64) - np.mean(y_train)
    return float(model.dual_gap_) * len(centred) <= model.tol * float(centred @ centred)


@dataclass
class Convergence:
    """The coordinate-descent fits of one input file that stopped at ``max_iter`` before the
    duality gap reached ``tol``, counted instead of printed.

    scikit-learn warns once per such fit ("Objective did not converge ... Duality gap ...": thousands
    of lines a sweep); :meth:`counting` catches those warnings (every other warning is re-issued),
    :meth:`add` counts each outer fold's fits, and :meth:`summary` is the one line per input file.
    Under the study's loose ``tol=1e-2`` with ``max_iter=1000`` they come from the small alphas at
    the end of the 100-alpha path, where many coefficients are free; the scores come from the refit
    at the chosen alpha, whose convergence is recorded per fold (``converged``).
    """

    path_fits: int = 0
    stopped: int = 0
    refits: int = 0
    refits_stopped: int = 0

    def add(self, fit: Fit) -> None:
        """Count one outer fold's path fits and its refit."""
        self.path_fits += fit.path_fits
        self.refits += 1
        self.refits_stopped += not fit.converged

    @contextmanager
    def counting(self):
        """Count the ConvergenceWarnings raised inside (worker threads included); re-issue the others.

        Entered once around all outer folds, in the calling thread, so that no other thread
        changes the warning filters meanwhile.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            yield self
        for warning in caught:
            if issubclass(warning.category, ConvergenceWarning):
                # the compiled solvers warn once per inner walk, naming how many alphas stopped
                found = re.search(r"at (\d+) alpha", str(warning.message))
                self.stopped += int(found.group(1)) if found else 1
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)

    def summary(self, source: str) -> str | None:
        """The line a job's log gets, or None when every fit converged."""
        if not self.stopped and not self.refits_stopped:
            return None
        path_stopped = max(self.stopped - self.refits_stopped, 0)
        return (f"{source}: {path_stopped} of {self.path_fits} coordinate-descent fits along the alpha path stopped "
                f"at max_iter={MAX_ITER} before the duality gap reached tol={TOL:g} (the small alphas at the "
                f"path's end; they only set the inner-CV error that chooses alpha); the refit at the chosen alpha "
                f"converged in {self.refits - self.refits_stopped} of {self.refits} outer folds (column "
                f"{CONVERGED})")


def score(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """R², MAE, RMSE and Spearman's rho of predictions (the study's scikit-learn/scipy metrics).

    R², MAE and RMSE are the formulas of scikit-learn's ``r2_score`` (a constant target gives
    1.0 for a perfect prediction, else 0.0), ``mean_absolute_error`` and the root of
    ``mean_squared_error``, in float64 as they compute them, without their per-call input
    checks (a tenth of a small fold's time under the compiled solvers).
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


def outer_folds(metadata: pd.DataFrame, cv: str, fold_column: str | None = None) -> list[splits.Split]:
    """The outer (train, test) index pairs of ``cv`` over the rows of ``metadata``.

    ``fold_column`` (``cv="predefined"`` only) names a column numbering each row's fold
    (ProteinGym's ``fold_contiguous_5``): :func:`plmtransfer.learn.splits.column_folds`.
    """
    if fold_column is not None:
        check_fold_column(cv, fold_column)
        if fold_column not in metadata.columns:
            raise UserError(f"--fold-column {fold_column}: no such column in the metadata "
                            f"(columns: {', '.join(map(str, metadata.columns))})")
        return splits.column_folds(metadata[fold_column], fold_column)
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


def check_fold_column(cv: str, fold_column: str | None) -> None:
    """Error when a fold column is named under a scheme other than ``predefined``."""
    if fold_column is not None and cv != "predefined":
        raise UserError(f"--fold-column {fold_column} needs --cv predefined (the file's own folds), "
                        f"not --cv {cv}")


def check_inner_cv(cv: str, inner_cv: str) -> None:
    """Error when the validation-column inner CV is asked for under an outer CV other than ``predefined``."""
    if inner_cv == "validation" and cv != "predefined":
        raise UserError(f"--inner-cv validation needs --cv predefined (the file's own train/test and validation "
                        f"rows), not --cv {cv}")


def outer_split(metadata: pd.DataFrame, cv: str, source: str, fold_column: str | None = None,
                inner_cv: str = "study") -> tuple[np.ndarray, list[splits.Split]]:
    """The rows an outer CV scheme uses and its folds over them: the one split of every regression.

    Returns ``(rows, folds)``: ``rows`` index ``metadata`` (all rows, or the single mutants under
    ``contiguous``/``modulo``, or under the position-grouped inner CV ``inner_cv="grouped"``), and
    each fold's (train, test) indices count within ``rows``.
    LassoCV (:func:`cross_validate`) and fine-tuning (:mod:`plmtransfer.learn.finetune`) both call
    it, so the same metadata and ``cv`` give both the same test rows in every fold. With a
    ``fold_column`` (under ``predefined``) the folds are that column's.
    """
    rows = np.arange(len(metadata))
    if inner_cv == "grouped" and "mutant" not in metadata.columns:
        raise UserError(f"{source}: --inner-cv grouped needs a 'mutant' column in the metadata")
    if (cv in ("contiguous", "modulo") or inner_cv == "grouped") and "mutant" in metadata.columns:
        scheme = f"--cv {cv}" if cv in ("contiguous", "modulo") else "--inner-cv grouped"
        rows = single_mutant_rows(metadata, source)
        if len(rows) < MIN_ROWS <= len(metadata):
            raise UndefinedSchemeError(f"{source}: {scheme} is not defined for this data set: "
                                       f"{len(rows)} single-substitution row(s) of {len(metadata)}")
    used = metadata.iloc[rows].reset_index(drop=True)
    check_target_usable(used["target"].to_numpy(dtype=np.float64), source)
    return rows, outer_folds(used, cv, fold_column)


def inner_groups(metadata: pd.DataFrame, inner_cv: str, folds: list[splits.Split], source: str) -> np.ndarray | None:
    """The mutated position of every row for ``inner_cv="grouped"``, the validation flag of every row for
    ``inner_cv="validation"`` (:func:`validation_flags`), else None.

    GroupKFold needs at least 5 distinct positions in every outer training part; fewer is a
    property of the data set (:class:`UndefinedSchemeError`: no folds written), not an input error.
    """
    if inner_cv == "validation":
        return validation_flags(metadata, folds, source)
    if inner_cv != "grouped":
        return None
    positions = np.array([splits.mutant_position(mutant) for mutant in metadata["mutant"]])
    fewest = min(len(np.unique(positions[train])) for train, _ in folds)
    if fewest < INNER_FOLDS:
        raise UndefinedSchemeError(f"{source}: --inner-cv grouped is not defined for this data set: an outer "
                                   f"training part holds {fewest} distinct mutated position(s), fewer than "
                                   f"{INNER_FOLDS} inner folds")
    return positions


def validation_flags(metadata: pd.DataFrame, folds: list[splits.Split], source: str) -> np.ndarray:
    """The metadata's ``validation`` column as booleans (``True``/``False``, any case); one error line when it is
    missing, holds another value, or leaves an outer training part without rows to fit or to score on."""
    if VALIDATION_COLUMN not in metadata.columns:
        raise UserError(f"{source}: --inner-cv validation needs a '{VALIDATION_COLUMN}' column (True/False) in the "
                        "metadata, as FLIP's splits have (prepare_flip.py)")
    text = metadata[VALIDATION_COLUMN].astype(str).str.strip().str.lower()
    known = text.isin(["true", "false"]).to_numpy()
    if not known.all():
        raise UserError(f"{source}: the '{VALIDATION_COLUMN}' column holds "
                        f"{metadata[VALIDATION_COLUMN].to_numpy()[~known][0]!r}; use True or False")
    flags = text.eq("true").to_numpy()
    for fold, (train, _) in enumerate(folds, start=1):
        if flags[train].all() or not flags[train].any():
            raise UserError(f"{source}: --inner-cv validation: the training part of outer fold {fold} has "
                            f"{int(flags[train].sum())} validation row(s) of {len(train)}; it needs rows of both kinds")
    return flags


def protocol_name(options: Options) -> str:
    """The ``Protocol`` of results: the inner CV, then whatever else departs from the study's protocol.

    ``study`` is the study's protocol exactly; ``shuffled``, ``grouped``, ``validation`` its inner-CV variants;
    ``+ridgecv`` / ``+elasticnetcv`` another regressor, ``+contiguous`` (etc.) another outer CV,
    ``+fold-scaling`` the scaler fitted per training fold: ``shuffled+ridgecv``.
    """
    parts = [options.inner_cv]
    if options.regressor != DEFAULT_OPTIONS.regressor:
        parts.append(options.regressor)
    if options.cv != DEFAULT_OPTIONS.cv:
        parts.append(options.cv)
    if options.scaling != DEFAULT_OPTIONS.scaling:
        parts.append(f"{options.scaling}-scaling")
    return "+".join(parts)


def feature_information(features: np.ndarray) -> dict[str, float | str]:
    """What the statistics need to name an input that carries no information of its own.

    ``feature_sd_max``: the largest standard deviation of a column over the proteins, relative to
    the largest absolute value (scale-free; exactly 0 when every protein has the same vector).
    ``feature_signature``: ``<columns>:<t1>:<t2>:<t3>``, where ``t_k = w_k' S r_k`` projects the
    MinMax-scaled features ``S`` on fixed random vectors (seeds 0-2 over the rows, 100-102 over the
    columns): two inputs whose features are equal after scaling (an affine map of each column,
    e.g. UniRep ``h_avg`` and ``mean`` when every variant has one length) have equal signatures up
    to rounding, and different ones almost surely differ. Computed in float64 by blocks of rows, so
    that a large one-hot input gets no full-size float64 copy.
    """
    X = np.asarray(features)
    n_rows, n_columns = X.shape
    low, high = X.min(axis=0).astype(np.float64), X.max(axis=0).astype(np.float64)
    spread = high - low
    blocks = [slice(start, start + max(1, FEATURE_BLOCK // max(n_columns, 1)))
              for start in range(0, n_rows, max(1, FEATURE_BLOCK // max(n_columns, 1)))]
    mean = sum(X[block].sum(axis=0, dtype=np.float64) for block in blocks) / n_rows
    variance = sum(((X[block] - mean) ** 2).sum(axis=0) for block in blocks) / n_rows
    scale_of = float(max(np.max(np.abs(low)), np.max(np.abs(high))))
    sd = np.where(spread == 0, 0.0, np.sqrt(variance))
    sd_max = float(np.max(sd)) / scale_of if scale_of > 0 else 0.0
    per_range = np.divide(1.0, spread, out=np.zeros(n_columns), where=spread > 0)  # MinMaxScaler: constant -> 0
    row_vectors = [np.random.default_rng(k).standard_normal(n_rows) for k in range(SIGNATURE_PROJECTIONS)]
    column_vectors = [np.random.default_rng(100 + k).standard_normal(n_columns) * per_range
                      for k in range(SIGNATURE_PROJECTIONS)]
    projections = np.zeros(SIGNATURE_PROJECTIONS)
    for block in blocks:
        centred = X[block] - low
        for k in range(SIGNATURE_PROJECTIONS):
            projections[k] += row_vectors[k][block] @ centred @ column_vectors[k]
    return {"feature_sd_max": sd_max,
            "feature_signature": ":".join([str(n_columns), *(f"{value:.10e}" for value in projections)])}


def label_protocol(results: pd.DataFrame, options: Options, features: np.ndarray) -> pd.DataFrame:
    """Append ``Protocol`` and :func:`feature_information`'s columns (after the labels)."""
    return results.assign(**{PROTOCOL_COLUMN: protocol_name(options)}, **feature_information(features))


def scale(X: np.ndarray) -> np.ndarray:
    """Min-max scale every column to [0, 1] (constant columns become 0), keeping the dtype."""
    return MinMaxScaler(feature_range=(0, 1)).fit_transform(X)


def cross_validate(table: Table, options: Options, source: str = "input",
                   progress: Callable | None = None, convergence: Convergence | None = None) -> pd.DataFrame:
    """Run the protocol on a joined table; one row per outer fold with ``RESULT_COLUMNS`` and ``converged``.

    The compiled solvers fit the outer folds in ``n_jobs`` threads (see :func:`threaded_outer_folds`);
    scikit-learn's fits them one after the other, each LassoCV with its own ``n_jobs``.
    """
    return cross_validate_predictions(table, options, source, progress, convergence)[0]


def cross_validate_predictions(table: Table, options: Options, source: str = "input",
                               progress: Callable | None = None,
                               convergence: Convergence | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`cross_validate`'s per-fold results and every test row's prediction by its fold's fit.

    The predictions (``PREDICTION_COLUMNS``: ``ID, Fold, target, prediction``, fold by fold)
    are the out-of-fold predictions ProteinGym's supervised benchmark scores
    (:mod:`plmtransfer.data.proteingym`). The solver's convergence warnings are counted into
    ``convergence`` (a fresh :class:`Convergence` when None) rather than printed. A table with
    stacked columns (``--stack``) goes to :func:`plmtransfer.learn.stacking.cross_validate_stacked`.
    """
    if table.stacked_columns:
        from plmtransfer.learn.stacking import cross_validate_stacked

        return cross_validate_stacked(table, options, source, progress, convergence)
    convergence = Convergence() if convergence is None else convergence
    rows, folds = outer_split(table.metadata, options.cv, source, options.fold_column, options.inner_cv)
    if len(rows) < len(table.metadata):
        table = Table(table.metadata.iloc[rows].reset_index(drop=True), table.features[rows])
    target = table.target
    groups = inner_groups(table.metadata, options.inner_cv, folds, source)
    features = scale(table.features) if options.scaling == "global" else table.features
    features = np.asfortranarray(features)

    def fold_parts(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """An outer fold's training and test rows, column-major (``--scaling fold``: scaled on the training rows)."""
        X_train, X_test = rows_of(features, train), rows_of(features, test)
        if options.scaling == "fold":
            scaler = MinMaxScaler(feature_range=(0, 1)).fit(X_train)
            X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        return X_train, X_test

    def result_of(split: splits.Split) -> tuple[dict, Fit, np.ndarray]:
        """Fit one outer fold's training part, score it on both parts; also return the test predictions.

        The parts are gathered for the fit and again for the scores, the same rows either way, so
        that no copy of them waits beside the search's own (several at once with threaded folds).
        """
        train, test = split
        fit = fit_fold(fold_parts(train, test)[0], target[train], options, None if groups is None else groups[train])
        X_train, X_test = fold_parts(train, test)
        train_scores = score(target[train], fit.predict(X_train))
        test_predictions = fit.predict(X_test)
        test_scores = score(target[test], test_predictions)
        return {"Model": MODEL_NAMES[options.regressor],
                **{f"{name}_score_train": value for name, value in train_scores.items() if name != "rho"},
                **{f"{name}_score_test": value for name, value in test_scores.items() if name != "rho"},
                "rho_score_train": train_scores["rho"], "rho_score_test": test_scores["rho"],
                "num_nonzero_coefs": fit.num_nonzero_coefs, "alpha": fit.alpha,
                "fit_seconds": fit.fit_seconds, CONVERGED: fit.converged}, fit, test_predictions

    if compiled_solver(options):
        results = threaded_outer_folds(result_of, folds, options.n_jobs)
    else:
        results = map(result_of, folds)
    fold_numbers = range(1, len(folds) + 1)
    rows, predictions = [], []
    with convergence.counting():
        for (row, fit, test_predictions), fold, (_, test) in zip(
                results, progress(fold_numbers) if progress else fold_numbers, folds, strict=True):
            convergence.add(fit)
            rows.append({"Fold": fold, **row})
            predictions.append(pd.DataFrame({"ID": table.metadata["ID"].to_numpy()[test], "Fold": fold,
                                             "target": target[test], "prediction": test_predictions}))
    predictions = (pd.concat(predictions, ignore_index=True) if predictions
                   else pd.DataFrame(columns=PREDICTION_COLUMNS))
    return pd.DataFrame(rows, columns=[*RESULT_COLUMNS, CONVERGED]), predictions[PREDICTION_COLUMNS]


def compiled_solver(options: Options) -> bool:
    """Whether this run solves LassoCV with the compiled search (``--solver compiled`` or ``fast``)."""
    return options.regressor == "lassocv" and options.solver != "sklearn"


def threaded_outer_folds(result_of: Callable[[splits.Split], tuple], folds: list[splits.Split],
                     n_jobs: int | None) -> Iterator[tuple]:
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
                  embedding_model: str | None, layer: int | None = None) -> pd.DataFrame:
    """Add ``Compression_method`` and, when given, ``Layer`` (before it), ``Dataset`` and ``Embedding_model``.

    ``Layer``: the model layer the input was pooled from (its file's ``embed_layer_<L>_``), so that the
    rows of a layer sweep name their layer (relative depth: the registry's number of layers).
    """
    if layer is not None:
        results = results.assign(Layer=layer)
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
                                 (options.scaling, SCALINGS, "--scaling"),
                                 (options.inner_cv, INNER_CV_SCHEMES, "--inner-cv")):
        if value not in allowed:
            raise UserError(f"unknown {flag} {value!r}: use {', '.join(allowed)}")
    if options.solver not in SOLVERS:
        raise UserError(f"unknown --solver {options.solver!r}: use {', '.join(SOLVERS)}")
    if options.solver != "sklearn" and options.regressor != "lassocv":
        raise UserError(f"--solver {options.solver} applies to --regressor lassocv only, not {options.regressor}")
    check_fold_column(options.cv, options.fold_column)
    check_inner_cv(options.cv, options.inner_cv)
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
                 max_missing: float, added: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> Table:
    """The joined features, in this column order: the input's, ``--append``'s, the zero-shot score, ``--stack``'s.

    ``added``: the feature files of :func:`plmtransfer.learn.features.read_feature_files`; each joins on ID.
    """
    added = added or {}
    table = join(metadata, embeddings, source, max_missing)
    if "append" in added:
        table = append_columns(table, added["append"], f"{source} x {options.append}", max_missing,
                               what="appended features")
    if scores is not None:
        scores_source = options.augment if options.features == "input" else "scores"
        table = append_score(table, scores, f"{source} x {scores_source}", max_missing)
    if "stack" in added:
        table = append_columns(table, added["stack"], f"{source} x {options.stack}", max_missing,
                               what="stacked features", stacked=True)
    return table


def features_label(embeddings_path: str | Path, options: Options) -> str:
    """The ``Compression_method`` of the results: the file's method (``onehot`` for ``onehot+score``), then
    ``+<method>`` of ``--append``, ``+score`` when augmented, ``+stacked-<method>`` of ``--stack`` (the column
    order). Stacking is named here rather than in ``Protocol``, so that the statistics can contrast it with
    the same features appended or alone (they never pool two protocols)."""
    parts = [options.features.partition("+")[0] if options.features != "input" else method_from_path(embeddings_path),
             options.append is not None and method_from_path(options.append),
             (options.augment is not None or options.features == "onehot+score") and "score",
             options.stack is not None and f"stacked-{method_from_path(options.stack)}"]
    return "+".join(part for part in parts if part)


def run(embeddings_path: str | Path, metadata_path: str | Path, options: Options = DEFAULT_OPTIONS,
        dataset: str | None = None, embedding_model: str | None = None,
        progress: Callable | None = None) -> pd.DataFrame:
    """The study's ``reg_LassoCV.py``: one result row per outer fold for one embedding file."""
    return run_predictions(embeddings_path, metadata_path, options, dataset, embedding_model, progress)[0]


def run_predictions(embeddings_path: str | Path, metadata_path: str | Path, options: Options = DEFAULT_OPTIONS,
                    dataset: str | None = None, embedding_model: str | None = None,
                    progress: Callable | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`run`'s per-fold results and the out-of-fold predictions (:func:`cross_validate_predictions`)."""
    metadata, embeddings, scores = load_inputs(embeddings_path, metadata_path, options)
    source = f"{metadata_path} x {embeddings_path}"
    table = joined_table(metadata, embeddings, scores, source, options, options.max_missing,
                         read_feature_files(options))
    del embeddings  # joined into table.features: a second copy of the data not needed by the folds
    convergence = Convergence()
    try:
        results, predictions = cross_validate_predictions(table, options, source, progress, convergence)
    except UndefinedSchemeError as reason:
        warn(f"{reason}; no folds written")
        results, predictions = pd.DataFrame(columns=RESULT_COLUMNS), pd.DataFrame(columns=PREDICTION_COLUMNS)
    if line := convergence.summary(source):
        warn(line)
    results = label_results(results, features_label(embeddings_path, options), dataset, embedding_model,
                            layout.compressed_layer(embeddings_path))
    return label_protocol(results, options, table.features), predictions


def run_sampling(embeddings_path: str | Path, metadata_path: str | Path,
                 options: Options = DEFAULT_OPTIONS, dataset: str | None = None,
                 embedding_model: str | None = None,
                 progress: Callable | None = None,
                 sizes: Sequence[int] = STUDY_SAMPLE_SIZES) -> pd.DataFrame:
    """The study's ``reg_LassoCV_sampling.py``: the protocol on random subsets of growing size.

    Each size draws metadata rows with ``DataFrame.sample(n, random_state=42)`` and joins them
    (in the sampled order) with the embeddings.
    """
    metadata, embeddings, scores = load_inputs(embeddings_path, metadata_path, options)
    source = f"{metadata_path} x {embeddings_path}"
    added = read_feature_files(options)
    full = joined_table(metadata, embeddings, scores, source, options, options.max_missing, added)
    parts = []
    convergence = Convergence()
    sizes = sample_sizes(len(metadata), sizes)
    for size in progress(sizes) if progress else sizes:
        sampled = metadata.sample(n=size, random_state=RANDOM_STATE)
        table = joined_table(sampled, embeddings, scores, f"{source} (sample of {size})", options, 1.0, added)
        try:
            results = cross_validate(table, options, f"{source} (sample of {size})", convergence=convergence)
        except UndefinedSchemeError as reason:
            warn(f"{reason}; no folds written for this size")
            continue
        parts.append(results.assign(Sample_size=size))
    if line := convergence.summary(f"{source} (every sample size)"):
        warn(line)
    results = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[*RESULT_COLUMNS, "Sample_size"])
    results = label_results(results, features_label(embeddings_path, options), dataset, embedding_model,
                            layout.compressed_layer(embeddings_path))
    return label_protocol(results, options, full.features)
