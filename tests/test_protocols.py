"""Protocol variants of the regression stage: the inner CV (study, shuffled, position-grouped) with
LassoCV and RidgeCV against scikit-learn alone, the alpha each variant picks on position-sorted rows,
the Protocol column, and the feature information that names uninformative inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics
from sklearn.linear_model import LassoCV, RidgeCV
from sklearn.model_selection import GroupKFold, KFold
from sklearn.preprocessing import MinMaxScaler

from plmtransfer.analysis import stats
from plmtransfer.cli import reg_lassoCV
from plmtransfer.errors import UserError
from plmtransfer.io import save_compressed
from plmtransfer.learn import regress

POSITIONS, PER_POSITION, DIM = 10, 40, 10


def position_sorted_assay(tmp_path, seed: int = 0):
    """Single mutants sorted by position (as the DMS files are), each position a random feature vector
    and an effect that vector does not predict: seen positions can be memorised, unseen ones not."""
    rng = np.random.default_rng(seed)
    position_vectors = rng.normal(size=(POSITIONS, DIM))
    effects = rng.normal(0, 1, POSITIONS)
    rows, vectors = [], {}
    for position in range(POSITIONS):
        for k in range(PER_POSITION):
            identifier = f"V{len(rows)}"
            rows.append({"ID": identifier, "mutant": f"A{position + 1}{'CDEFGHIKLMNPQRSTVWY'[k % 19]}",
                         "target": effects[position] + rng.normal(0, 0.2)})
            vectors[identifier] = (position_vectors[position] + rng.normal(0, 0.01, DIM)).astype(np.float32)
    metadata = pd.DataFrame(rows)
    metadata_path = tmp_path / "assay_metadata.csv"
    metadata.to_csv(metadata_path, index=False)
    return save_compressed(vectors, tmp_path / "embed_layer_1_mean.pkl"), metadata_path


def sklearn_only(embeddings_path, metadata_path, inner_cv: str, regressor: str) -> pd.DataFrame:
    """An independent re-computation: pandas frames (column-major, as the study's), MinMaxScaler, the outer
    KFold and LassoCV/RidgeCV with the variant's inner folds built from scikit-learn alone."""
    metadata = pd.read_csv(metadata_path)
    vectors = pd.read_pickle(embeddings_path)
    X = pd.DataFrame(MinMaxScaler().fit_transform(pd.DataFrame([vectors[i] for i in metadata["ID"]])))
    y = metadata["target"]
    positions = metadata["mutant"].str[1:-1].astype(int).to_numpy()
    rows = []
    for fold, (train, test) in enumerate(KFold(5, shuffle=True, random_state=42).split(X), start=1):
        if inner_cv == "study":
            cv = KFold(5)
        elif inner_cv == "shuffled":
            cv = KFold(5, shuffle=True, random_state=42)
        else:
            cv = list(GroupKFold(5).split(X.iloc[train], groups=positions[train]))
        if regressor == "lassocv":
            model = LassoCV(max_iter=1000, tol=1e-2, random_state=42, cv=cv)
        else:
            model = RidgeCV(alphas=np.logspace(-4, 4, 17), cv=cv)
        model.fit(X.iloc[train], y.iloc[train])
        rows.append({"Fold": fold, "alpha": model.alpha_,
                     "R2_score_test": metrics.r2_score(y.iloc[test], model.predict(X.iloc[test]))})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("regressor", ["lassocv", "ridgecv"])
@pytest.mark.parametrize("inner_cv", ["study", "shuffled", "grouped"])
def test_every_variant_matches_scikit_learn_alone(tmp_path, inner_cv, regressor):
    embeddings_path, metadata_path = position_sorted_assay(tmp_path)
    ours = regress.run(embeddings_path, metadata_path,
                       regress.Options(n_jobs=1, inner_cv=inner_cv, regressor=regressor))
    reference = sklearn_only(embeddings_path, metadata_path, inner_cv, regressor)
    np.testing.assert_allclose(ours["R2_score_test"], reference["R2_score_test"], atol=1e-6, rtol=0)
    np.testing.assert_allclose(ours["alpha"], reference["alpha"], rtol=1e-6)
    expected = inner_cv if regressor == "lassocv" else f"{inner_cv}+{regressor}"
    assert set(ours["Protocol"]) == {expected}


def test_unshuffled_inner_folds_on_sorted_rows_choose_a_larger_alpha(tmp_path):
    """On position-sorted rows the study's inner blocks hold out whole positions, whose effects the
    features cannot predict: the search shrinks towards the null model. Shuffled inner folds see every
    position and choose a far smaller alpha; position-grouped folds behave as the study's blocks."""
    embeddings_path, metadata_path = position_sorted_assay(tmp_path)
    alphas = {inner: regress.run(embeddings_path, metadata_path,
                                 regress.Options(n_jobs=1, inner_cv=inner))["alpha"].to_numpy()
              for inner in ("study", "shuffled", "grouped")}
    assert np.all(alphas["study"] > 10 * alphas["shuffled"])
    assert np.all(alphas["grouped"] > 10 * alphas["shuffled"])


@pytest.mark.parametrize("inner_cv", ["shuffled", "grouped"])
def test_fast_search_uses_the_variant_inner_folds(tmp_path, inner_cv):
    """``--fast`` walks the same inner folds: here it picks scikit-learn's alpha in every fold."""
    embeddings_path, metadata_path = position_sorted_assay(tmp_path)
    exact = regress.run(embeddings_path, metadata_path, regress.Options(n_jobs=1, inner_cv=inner_cv))
    fast = regress.run(embeddings_path, metadata_path, regress.Options(n_jobs=1, inner_cv=inner_cv, solver="fast"))
    np.testing.assert_allclose(fast["alpha"], exact["alpha"], rtol=1e-6)
    assert set(fast["Protocol"]) == {inner_cv}


def test_cli_names_the_variant_in_a_trailing_column(tmp_path):
    embeddings_path, metadata_path = position_sorted_assay(tmp_path)
    output = tmp_path / "out.csv"
    assert reg_lassoCV.main(["-i", str(embeddings_path), "-m", str(metadata_path), "-o", str(output),
                             "--inner-cv", "grouped", "--regressor", "ridgecv", "--dataset", "A",
                             "--embedding-model", "m", "--quiet", "-j", "1"]) == 0
    written = pd.read_csv(output)
    assert list(written.columns[:len(regress.RESULT_COLUMNS)]) == regress.RESULT_COLUMNS
    assert list(written.columns[-6:]) == [
        "Compression_method", "Dataset", "Embedding_model", "Protocol", "feature_sd_max", "feature_signature"]
    assert set(written["Protocol"]) == {"grouped+ridgecv"}


def test_protocol_name_lists_every_departure():
    assert regress.protocol_name(regress.Options()) == "study"
    assert regress.protocol_name(regress.Options(inner_cv="shuffled", cv="contiguous", scaling="fold")) == \
        "shuffled+contiguous+fold-scaling"


def test_grouped_needs_positions_and_leaves_out_other_rows(tmp_path, capsys):
    embeddings_path, metadata_path = position_sorted_assay(tmp_path)
    metadata = pd.read_csv(metadata_path)
    metadata.loc[:4, "mutant"] = "A1C:G5D"  # five multi-mutants
    metadata.to_csv(metadata_path, index=False)
    results = regress.run(embeddings_path, metadata_path, regress.Options(n_jobs=1, inner_cv="grouped"))
    assert len(results) == 5
    assert "5 multi-mutant row(s) left out" in capsys.readouterr().err
    metadata.drop(columns="mutant").to_csv(metadata_path, index=False)
    with pytest.raises(UserError, match="--inner-cv grouped needs a 'mutant' column"):
        regress.run(embeddings_path, metadata_path, regress.Options(n_jobs=1, inner_cv="grouped"))


def test_grouped_with_too_few_positions_writes_no_folds(tmp_path):
    rng = np.random.default_rng(0)
    metadata = pd.DataFrame({"ID": [f"V{i}" for i in range(40)], "mutant": [f"A{1 + i % 4}C" for i in range(40)],
                             "target": rng.normal(size=40)})
    metadata.to_csv(tmp_path / "m.csv", index=False)
    path = save_compressed({i: rng.random(3).astype(np.float32) for i in metadata["ID"]}, tmp_path / "e_mean.pkl")
    results = regress.run(path, tmp_path / "m.csv", regress.Options(n_jobs=1, inner_cv="grouped"))
    assert results.empty


# ----------------------------------------------------------------------------- uninformative inputs


def test_constant_rule_on_a_constant_and_a_near_constant_column():
    rng = np.random.default_rng(0)
    base = rng.normal(size=8)
    constant = np.tile(base, (50, 1))
    assert regress.feature_information(constant)["feature_sd_max"] == 0
    assert stats.is_constant_feature(regress.feature_information(constant)["feature_sd_max"])
    float_noise = constant + rng.normal(0, 1e-9, constant.shape)  # rounding-level differences: still constant
    assert stats.is_constant_feature(regress.feature_information(float_noise)["feature_sd_max"])
    near_constant = constant.copy()
    near_constant[:, 3] += rng.normal(0, 1e-3, 50)  # one column varies a little: it carries information
    sd_max = regress.feature_information(near_constant)["feature_sd_max"]
    assert not stats.is_constant_feature(sd_max)
    assert sd_max == pytest.approx(np.std(near_constant[:, 3]) / np.max(np.abs(near_constant)), rel=1e-12)


def test_signature_equal_after_scaling_only():
    """UniRep's h_avg = (L·mean + h0)/(L+1) for every protein of one length: the same after MinMax scaling."""
    rng = np.random.default_rng(1)
    mean = rng.normal(size=(60, 16)).astype(np.float32)
    h_avg = ((20 * mean + rng.normal(size=16)) / 21).astype(np.float32)
    other = mean.copy()
    other[:, 0] = rng.normal(size=60)
    signatures = [stats.parse_signature(regress.feature_information(X)["feature_signature"])
                  for X in (mean, h_avg, other)]
    assert stats.same_signature(signatures[0], signatures[1])
    assert not stats.same_signature(signatures[0], signatures[2])
    assert not stats.same_signature(signatures[0], stats.parse_signature("15:1:2:3"))


def test_report_names_constant_and_duplicate_inputs_found_by_the_regression_stage(tmp_path):
    """End to end: the regression stage measures the inputs, the report names and leaves out a constant
    input (a left-to-right model's start state) and one equal to ``mean`` after scaling (UniRep h_avg on
    variants of one length), and keeps a real method."""
    from plmtransfer.analysis import report

    rng = np.random.default_rng(3)
    start_state = rng.normal(size=DIM).astype(np.float32)
    results_dir = tmp_path / "results" / "unirep256"
    results_dir.mkdir(parents=True)
    for seed, dataset in enumerate(("AAA_X", "BBB_X", "CCC_X")):
        folder = tmp_path / dataset
        folder.mkdir()
        embeddings_path, metadata_path = position_sorted_assay(folder, seed=seed)
        mean = pd.read_pickle(embeddings_path)
        inputs = {"mean": mean,
                  "h_avg": {key: ((20 * value + start_state) / 21).astype(np.float32) for key, value in mean.items()},
                  "bos": {key: start_state.copy() for key in mean},
                  "maxPool": {key: (value + rng.normal(0, 0.5, DIM)).astype(np.float32) for key, value in mean.items()}}
        for method, vectors in inputs.items():
            path = save_compressed(vectors, folder / f"embed_layer_1_{method}.pkl")
            results = regress.run(path, metadata_path, regress.Options(n_jobs=1), dataset=dataset,
                                  embedding_model="unirep256")
            results.to_csv(results_dir / f"{dataset}_{method}.csv", index=False)
    flagged = stats.uninformative_inputs(stats.collect_results(tmp_path / "results"))
    assert sorted(zip(flagged["Compression_method"], flagged["status"], strict=True)) == \
        [("bos", "constant")] * 3 + [("h_avg", "duplicate")] * 3
    report.run_report(tmp_path / "results", tmp_path / "stats", tmp_path / "figures")
    page = (tmp_path / "stats" / "report.html").read_text()
    assert "<b>bos</b> (unirep256): constant: carries no sequence information (3 data sets)" in page
    contrasts = pd.read_csv(tmp_path / "stats" / "contrasts_Compression_method_unirep256.csv")
    assert list(contrasts["level"]) == ["maxPool"]
