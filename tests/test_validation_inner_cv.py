"""``--inner-cv validation``: alpha tuned on the metadata's validation rows (FLIP's protocol), then refitted.

The reference is computed here independently of the regression stage: the alpha grid from its
definition (100 alphas, log-spaced from alpha_max to alpha_max / 1000, on the whole training part),
scikit-learn's ``lasso_path`` / ``Ridge`` fitted on the training rows flagged False and scored (MSE)
on those flagged True, then a plain ``Lasso`` / ``Ridge`` at the best alpha on every training row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Lasso, Ridge, lasso_path
from sklearn.preprocessing import MinMaxScaler

from plmtransfer.errors import UserError
from plmtransfer.io import save_compressed
from plmtransfer.learn import regress
from plmtransfer.options import RegressOptions

N_ROWS, N_TRAIN, N_VALIDATION, N_FEATURES = 160, 120, 30, 12


@pytest.fixture(scope="module")
def flip_like(tmp_path_factory):
    """A FLIP-style split: 120 train rows (the last 30 flagged validation), 40 test rows, and 12 features."""
    rng = np.random.default_rng(7)
    features = rng.normal(size=(N_ROWS, N_FEATURES))
    weights = np.r_[rng.normal(size=4) * 2, np.zeros(N_FEATURES - 4)]
    target = features @ weights + rng.normal(scale=2.0, size=N_ROWS)
    ids = [f"v{index}" for index in range(N_ROWS)]
    order = rng.permutation(N_ROWS)  # the sets interleave in the file, as in FLIP's CSVs
    sets = np.where(order < N_TRAIN, "train", "test")
    validation = order >= N_TRAIN - N_VALIDATION
    validation &= sets == "train"
    directory = tmp_path_factory.mktemp("flip_like")
    metadata = pd.DataFrame({"ID": ids, "target": target, "set": sets, "validation": validation})
    metadata.to_csv(directory / "gb1_metadata.csv", index=False)
    save_compressed(dict(zip(ids, features, strict=True)), directory / "embed_layer_1_mean.pkl")
    return directory / "embed_layer_1_mean.pkl", directory / "gb1_metadata.csv", features, metadata


def reference_parts(features, metadata):
    """Globally MinMax-scaled features (the stage's default scaling) and the masks of the split's rows."""
    scaled = MinMaxScaler().fit_transform(features)
    train = metadata["set"].eq("train").to_numpy()
    tune = metadata["validation"].to_numpy(dtype=bool)
    return scaled, train, train & ~tune, tune, ~train


def lasso_reference_alpha(scaled, target, train, fit, tune) -> float:
    """The alpha of the grid on the training part whose path fit (on ``fit`` rows) scores best on ``tune`` rows."""
    X_all, y_all = scaled[train], target[train]
    alpha_max = np.max(np.abs((X_all - X_all.mean(0)).T @ (y_all - y_all.mean()))) / len(y_all)
    alphas = np.geomspace(alpha_max, alpha_max / 1000, 100)
    X_fit, y_fit = scaled[fit], target[fit]
    mean_X, mean_y = X_fit.mean(0), y_fit.mean()
    _, coefs, _ = lasso_path(X_fit - mean_X, y_fit - mean_y, alphas=alphas, tol=regress.TOL,
                             max_iter=regress.MAX_ITER)
    predictions = (scaled[tune] - mean_X) @ coefs + mean_y
    errors = ((predictions - target[tune][:, None]) ** 2).mean(axis=0)
    return float(alphas[np.argmin(errors)])


def run(embeddings, metadata, **options) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The regression stage's per-fold results and predictions under ``options`` (one thread)."""
    return regress.run_predictions(embeddings, metadata, RegressOptions(n_jobs=1, **options))


def test_lassocv_tunes_alpha_on_the_validation_rows_then_refits(flip_like):
    embeddings, metadata_path, features, metadata = flip_like
    results, predictions = run(embeddings, metadata_path, cv="predefined", inner_cv="validation")
    scaled, train, fit, tune, test = reference_parts(features, metadata)
    target = metadata["target"].to_numpy()
    expected_alpha = lasso_reference_alpha(scaled, target, train, fit, tune)
    assert len(results) == 1
    assert results["alpha"].iloc[0] == pytest.approx(expected_alpha, rel=1e-9)
    refit = Lasso(alpha=expected_alpha, tol=regress.TOL, max_iter=regress.MAX_ITER).fit(scaled[train], target[train])
    assert list(predictions["ID"]) == list(metadata["ID"][test])
    np.testing.assert_allclose(predictions["prediction"], refit.predict(scaled[test]), rtol=1e-9, atol=1e-9)
    assert results["num_nonzero_coefs"].iloc[0] == np.count_nonzero(refit.coef_)
    assert results["Protocol"].iloc[0] == "validation+predefined"
    study, _ = run(embeddings, metadata_path, cv="predefined")  # the study's inner CV picks another alpha here
    assert study["Protocol"].iloc[0] == "study+predefined"
    assert study["alpha"].iloc[0] != pytest.approx(expected_alpha, rel=1e-3)


def test_ridgecv_tunes_alpha_on_the_validation_rows_then_refits(flip_like):
    embeddings, metadata_path, features, metadata = flip_like
    results, predictions = run(embeddings, metadata_path, cv="predefined", inner_cv="validation", regressor="ridgecv")
    scaled, train, fit, tune, test = reference_parts(features, metadata)
    target = metadata["target"].to_numpy()
    errors = [np.mean((Ridge(alpha=alpha).fit(scaled[fit], target[fit]).predict(scaled[tune]) - target[tune]) ** 2)
              for alpha in regress.RIDGE_ALPHAS]
    expected_alpha = float(regress.RIDGE_ALPHAS[int(np.argmin(errors))])
    assert results["alpha"].iloc[0] == pytest.approx(expected_alpha, rel=1e-12)
    refit = Ridge(alpha=expected_alpha).fit(scaled[train], target[train])
    np.testing.assert_allclose(predictions["prediction"], refit.predict(scaled[test]), rtol=1e-8, atol=1e-8)
    assert results["Protocol"].iloc[0] == "validation+ridgecv+predefined"


def test_validation_inner_cv_needs_the_predefined_outer_cv(flip_like):
    embeddings, metadata_path, _, _ = flip_like
    with pytest.raises(UserError, match="--inner-cv validation needs --cv predefined") as error:
        run(embeddings, metadata_path, cv="random", inner_cv="validation")
    assert "\n" not in str(error.value)


def test_the_compiled_solver_tunes_on_the_validation_rows_as_scikit_learn_does(flip_like):
    """One validation split is not a partition of the training rows: the compiled search walks it without
    Gram matrices and picks scikit-learn's alpha, with the same refit."""
    embeddings, metadata_path, _, _ = flip_like
    study, _ = run(embeddings, metadata_path, cv="predefined", inner_cv="validation")
    compiled, _ = run(embeddings, metadata_path, cv="predefined", inner_cv="validation", solver="compiled")
    np.testing.assert_array_equal(compiled["alpha"], study["alpha"])
    np.testing.assert_allclose(compiled["R2_score_test"], study["R2_score_test"], rtol=0, atol=1e-9)


@pytest.mark.parametrize(("change", "message"), [
    ("drop", "needs a 'validation' column"),
    ("maybe", "holds 'maybe'; use True or False"),
    ("none", "outer fold 1 has 0 validation row"),
])
def test_a_bad_validation_column_is_one_line(flip_like, tmp_path, change, message):
    embeddings, _, _, metadata = flip_like
    metadata = metadata.copy()
    if change == "drop":
        metadata = metadata.drop(columns="validation")
    elif change == "maybe":
        metadata["validation"] = metadata["validation"].astype(object)
        metadata.loc[3, "validation"] = "maybe"
    else:
        metadata["validation"] = False
    path = tmp_path / "metadata.csv"
    metadata.to_csv(path, index=False)
    with pytest.raises(UserError, match=message) as error:
        run(embeddings, path, cv="predefined", inner_cv="validation")
    assert "\n" not in str(error.value)


def test_the_command_line_takes_the_choice(flip_like, tmp_path):
    """reg_lassoCV.py --cv predefined --inner-cv validation writes the protocol's rows."""
    from plmtransfer.cli import reg_lassoCV

    embeddings, metadata_path, _, _ = flip_like
    output = tmp_path / "out.csv"
    assert reg_lassoCV.main(["-i", str(embeddings), "-m", str(metadata_path), "-o", str(output), "--cv",
                             "predefined", "--inner-cv", "validation", "-j", "1", "--quiet"]) == 0
    assert list(pd.read_csv(output)["Protocol"]) == ["validation+predefined"]
