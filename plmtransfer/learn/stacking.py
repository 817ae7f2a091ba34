"""Stacked regression (``--stack FILE``): two first-level models combined by a second-level fit.

Model A fits the input's features (with any ``--append`` and ``--augment`` columns), model B the
features of FILE (the last ``Table.stacked_columns`` columns of the joined table), each with the
regression's own regressor and inner CV (:func:`plmtransfer.learn.regress.fit_fold`). In each
outer fold of the regression's outer CV:

1. the outer *training* rows are split by an inner K-fold, the scheme of the alpha search's inner CV
   (:func:`plmtransfer.learn.regress.inner_cv_folds`: ``KFold(5)`` for the study's protocol); for
   each inner fold, A and B are fitted on its training part and predict its held-out part, so every
   outer training row gets one out-of-fold prediction per model (:func:`out_of_fold`);
2. the second level is non-negative least squares with an intercept of the training target on
   those two predictions (``LinearRegression(positive=True)``; non-negative weights as in Breiman
   1996, "Stacked regressions"), :func:`fit_second_level`;
3. A and B are refitted on all outer training rows; a test row's prediction is the second level
   applied to their two predictions for it.

No fit of steps 1-3 sees a row of the outer test fold, and the second level never sees a prediction
made by a model trained on the row it predicts. (Under the study's ``--scaling global`` the MinMax
scaling uses every row's features, not targets, as in the unstacked protocol.) The cost is
(K + 1) x 2 first-level fits per outer fold, 12 with K = 5.

Results are the regression's per-fold rows; ``alpha`` is NaN (each model has its own), and three
columns give the second level: ``stack_weight_input``, ``stack_weight_stacked``, ``stack_intercept``.
``Compression_method`` names the stacking: ``<input's>+stacked-<FILE's method>``
(:func:`plmtransfer.learn.regress.features_label`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import MinMaxScaler

from plmtransfer.errors import UserError
from plmtransfer.learn import regress
from plmtransfer.learn.features import Table
from plmtransfer.options import RegressOptions

WEIGHT_COLUMNS = ["stack_weight_input", "stack_weight_stacked", "stack_intercept"]
K_FOLD_INNER_CV = ("study", "shuffled", "grouped")  # the inner CV schemes that hold out every training row once
Predictor = Callable[[np.ndarray], np.ndarray]  # row indices -> predictions


def fit_first_level(X: np.ndarray, y: np.ndarray, train: np.ndarray, options: RegressOptions,
                    positions: np.ndarray | None) -> tuple[regress.Fit, Predictor]:
    """Fit ``options.regressor`` on rows ``train`` of ``X``; return the fit and a predictor over row indices.

    ``--scaling fold`` fits the MinMax scaler on these training rows (``X`` is unscaled then);
    under ``global`` ``X`` arrives scaled.
    """
    X_train = X[train]
    scaler = MinMaxScaler(feature_range=(0, 1)).fit(X_train) if options.scaling == "fold" else None
    if scaler is not None:
        X_train = scaler.transform(X_train)
    fit = regress.fit_fold(X_train, y[train], options, None if positions is None else positions[train])

    def predict(rows: np.ndarray) -> np.ndarray:
        X_rows = X[rows] if scaler is None else scaler.transform(X[rows])
        return fit.predict(X_rows)

    return fit, predict


def inner_splits(train: np.ndarray, options: RegressOptions,
                 positions: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """The inner K-fold over the outer training rows ``train``, as (train, held-out) indices into ``train``."""
    groups = None if positions is None else positions[train]
    scheme = regress.inner_cv_folds(options.inner_cv, groups)
    return scheme if isinstance(scheme, list) else list(scheme.split(np.zeros((len(train), 1))))


def out_of_fold(blocks: list[np.ndarray], y: np.ndarray, train: np.ndarray, options: RegressOptions,
                positions: np.ndarray | None) -> tuple[np.ndarray, list[regress.Fit]]:
    """``len(train) x len(blocks)``: each training row's prediction by each block's model fitted without it.

    Only the rows ``train`` are used, split by :func:`inner_splits`; also returns the inner fits.
    """
    predictions = np.empty((len(train), len(blocks)))
    fits = []
    for inner_train, held_out in inner_splits(train, options, positions):
        for column, X in enumerate(blocks):
            fit, predict = fit_first_level(X, y, train[inner_train], options, positions)
            predictions[held_out, column] = predict(train[held_out])
            fits.append(fit)
    return predictions, fits


def fit_second_level(predictions: np.ndarray, y: np.ndarray) -> LinearRegression:
    """Non-negative least squares with intercept of ``y`` on the first-level predictions (one column each)."""
    return LinearRegression(positive=True).fit(predictions, y)


def combined(second: LinearRegression, refits: list[tuple[regress.Fit, Predictor]], rows: np.ndarray) -> np.ndarray:
    """The stacked prediction of ``rows``: the second level on the refitted first-level models' predictions."""
    return second.predict(np.column_stack([predict(rows) for _, predict in refits]))


def blocks_of(table: Table) -> tuple[np.ndarray, np.ndarray]:
    """The two models' feature blocks: all columns but the stacked ones, and the stacked ones."""
    split = table.features.shape[1] - table.stacked_columns
    if table.stacked_columns == 0 or split == 0:
        raise UserError("stacking needs two feature sets: the input and the --stack file")
    return table.features[:, :split], table.features[:, split:]


def cross_validate_stacked(table: Table, options: RegressOptions, source: str = "input",
                           progress: Callable | None = None,
                           convergence: regress.Convergence | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stacked protocol over the regression's outer folds: per-fold results and test predictions.

    Same outer split, rows, scaling and result columns as
    :func:`plmtransfer.learn.regress.cross_validate_predictions`, plus ``WEIGHT_COLUMNS``.
    """
    if options.inner_cv not in K_FOLD_INNER_CV:
        raise UserError(f"--stack needs an inner K-fold that predicts every training row once: use --inner-cv "
                        f"{', '.join(K_FOLD_INNER_CV)}, not {options.inner_cv}")
    convergence = regress.Convergence() if convergence is None else convergence
    rows, folds = regress.outer_split(table.metadata, options.cv, source, options.fold_column, options.inner_cv)
    metadata = table.metadata.iloc[rows].reset_index(drop=True)
    subset = Table(metadata, table.features[rows], table.stacked_columns)
    target = subset.target
    positions = regress.inner_groups(metadata, options.inner_cv, folds, source)
    features = regress.scale(subset.features) if options.scaling == "global" else subset.features
    blocks = list(blocks_of(Table(metadata, features, table.stacked_columns)))
    fold_numbers = range(1, len(folds) + 1)
    results, predictions = [], []
    with convergence.counting():
        for fold, (train, test) in zip(progress(fold_numbers) if progress else fold_numbers, folds, strict=True):
            start = time.perf_counter()
            oof, inner_fits = out_of_fold(blocks, target, train, options, positions)
            second = fit_second_level(oof, target[train])
            refits = [fit_first_level(X, target, train, options, positions) for X in blocks]
            train_scores = regress.score(target[train], combined(second, refits, train))
            test_predictions = combined(second, refits, test)
            test_scores = regress.score(target[test], test_predictions)
            for fit in inner_fits:
                convergence.path_fits += fit.path_fits
            for fit, _ in refits:
                convergence.add(fit)
            results.append({
                "Fold": fold, "Model": regress.MODEL_NAMES[options.regressor],
                **{f"{name}_score_train": value for name, value in train_scores.items() if name != "rho"},
                **{f"{name}_score_test": value for name, value in test_scores.items() if name != "rho"},
                "rho_score_train": train_scores["rho"], "rho_score_test": test_scores["rho"],
                "num_nonzero_coefs": sum(fit.num_nonzero_coefs for fit, _ in refits), "alpha": np.nan,
                "fit_seconds": time.perf_counter() - start,
                regress.CONVERGED: all(fit.converged for fit, _ in refits),
                **dict(zip(WEIGHT_COLUMNS, [*second.coef_, second.intercept_], strict=True))})
            predictions.append(pd.DataFrame({"ID": metadata["ID"].to_numpy()[test], "Fold": fold,
                                             "target": target[test], "prediction": test_predictions}))
    predictions = (pd.concat(predictions, ignore_index=True) if predictions
                   else pd.DataFrame(columns=regress.PREDICTION_COLUMNS))
    columns = [*regress.RESULT_COLUMNS, regress.CONVERGED, *WEIGHT_COLUMNS]
    return pd.DataFrame(results, columns=columns), predictions[regress.PREDICTION_COLUMNS]
