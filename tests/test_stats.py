"""Tests of plmtransfer.analysis.stats: reading results, mixed-effects contrasts, adjustments, data size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from plmtransfer.analysis import stats
from plmtransfer.errors import UserError

TRUE_EFFECTS = {"mean": 0.0, "bos": -0.06, "max": -0.12, "pca1-2": 0.04}


def simulate(n_datasets=12, n_folds=5, effects=TRUE_EFFECTS, seed=0, model="esm2_150M"):
    """Per-fold results with known method effects and dataset / fold random intercepts."""
    rng = np.random.default_rng(seed)
    dataset_effect = rng.normal(0, 0.1, n_datasets)
    fold_effect = rng.normal(0, 0.02, n_folds)
    rows = []
    for d in range(n_datasets):
        for fold in range(n_folds):
            for method, effect in effects.items():
                rows.append({"Dataset": f"PROT{d}_HUMAN_X", "Fold": fold, "Embedding_model": model,
                             "Compression_method": method,
                             "R2_score_test": 0.5 + effect + dataset_effect[d] + fold_effect[fold]
                             + rng.normal(0, 0.03)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def simulated_fit():
    """One single-step fit on the simulated design (shared: fitting costs ~1 s)."""
    return stats.fit_contrasts(simulate(), "R2_score_test", "Compression_method", "mean")


def test_estimates_recover_true_effects_within_standard_errors(simulated_fit):
    table = simulated_fit.contrasts.set_index("level")
    for level, effect in TRUE_EFFECTS.items():
        if level == "mean":
            continue
        assert abs(table.loc[level, "estimate"] - effect) < 3 * table.loc[level, "std_error"]
    assert simulated_fit.info["converged"]
    assert simulated_fit.info["var_Dataset"] > simulated_fit.info["var_residual"]


def test_balanced_estimates_equal_differences_of_marginal_means(simulated_fit):
    frame = simulate()
    means = frame.groupby("Compression_method")["R2_score_test"].mean()
    table = simulated_fit.contrasts.set_index("level")
    for level in ("bos", "max", "pca1-2"):
        assert table.loc[level, "estimate"] == pytest.approx(means[level] - means["mean"], abs=1e-8)
    assert simulated_fit.info["intercept"] == pytest.approx(means["mean"], abs=1e-8)
    assert not any("unbalanced" in note for note in simulated_fit.warnings)


def test_single_step_is_between_raw_and_bonferroni_and_intervals_wider(simulated_fit):
    table = simulated_fit.contrasts
    assert (table["p_adjusted"] >= table["p_value"]).all()
    assert (table["p_adjusted"] <= np.minimum(1, 3 * table["p_value"]) + 1e-15).all()
    plain = stats.fit_contrasts(simulate(), adjust="none").contrasts
    assert ((table["ci_high"] - table["ci_low"]) > (plain["ci_high"] - plain["ci_low"])).all()
    assert (plain["p_adjusted"] == plain["p_value"]).all()


def test_dunnett_critical_value_for_three_comparisons_with_common_control():
    correlation = np.full((3, 3), 0.5) + 0.5 * np.eye(3)
    # Dunnett's two-sided 95% critical value, 3 comparisons, infinite df: 2.349.
    assert stats.single_step_quantile(correlation) == pytest.approx(2.349, abs=2e-3)
    assert stats.single_step_quantile(np.eye(1)) == pytest.approx(1.959964, abs=1e-5)


def test_single_step_pvalue_of_weak_effects_is_larger_than_raw():
    correlation = np.full((3, 3), 0.5) + 0.5 * np.eye(3)
    z = np.array([2.0, 0.5, -1.0])
    raw = 2 * (1 - __import__("scipy").stats.norm.cdf(np.abs(z)))
    adjusted = stats.single_step_pvalues(z, correlation)
    assert (adjusted > raw).all()
    assert adjusted[0] < 3 * raw[0]


def test_holm_and_bonferroni():
    raw = np.array([0.01, 0.04, 0.03])
    assert stats.adjust_pvalues(raw, raw, np.eye(3), "bonferroni") == pytest.approx([0.03, 0.12, 0.09])
    assert stats.adjust_pvalues(raw, raw, np.eye(3), "holm") == pytest.approx([0.03, 0.06, 0.06])


def test_stars():
    assert [stats.significance_stars(p) for p in (0.0001, 0.005, 0.02, 0.07, 0.5)] == \
        ["***", "**", "*", ".", ""]


def test_unbalanced_design_warns_and_bad_reference_fails():
    frame = simulate(n_datasets=6, effects={"mean": 0, "bos": -0.1})
    frame = frame.drop(frame.index[(frame["Dataset"] == "PROT0_HUMAN_X")
                                   & (frame["Compression_method"] == "bos")])
    result = stats.fit_contrasts(frame, reference="mean")
    assert any("unbalanced" in note for note in result.warnings)
    with pytest.raises(UserError, match="reference level 'median'"):
        stats.fit_contrasts(frame, reference="median")
    two_models = pd.concat([frame, frame.assign(Embedding_model="esm2_8M")])
    with pytest.raises(UserError, match="--where Embedding_model"):
        stats.fit_contrasts(two_models)


def test_parse_stem_and_model_info():
    assert stats.parse_result_stem("BLAT_ECOLX_Ranganathan2015_pca1-2") == \
        ("BLAT_ECOLX_Ranganathan2015", "pca1-2")
    info = stats.model_info("esm2_150M")
    assert (info.family, info.size, info.parameters, info.random_weights) == \
        ("esm2", "150M", 150_000_000, False)
    random = stats.model_info("esm2_t6_8M_random")
    assert random.random_weights and random.family == "esm2"
    assert 7e6 < random.parameters < 8.5e6
    assert stats.model_info("mystery").family == "unknown"


def write_tree(root, models=("onehot", "esm2_150M"), methods=("mean", "bos", "pca1-2")):
    """A results tree in the regression stage's layout, plus metadata CSVs."""
    frame = simulate(n_datasets=2, effects={m: 0.01 * i for i, m in enumerate(methods)})
    for model in models:
        for (dataset, method), rows in frame.groupby(["Dataset", "Compression_method"]):
            path = root / "res" / model / f"{dataset}_{method}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            rows.drop(columns=["Dataset", "Embedding_model"]).assign(Model="LassoCV").to_csv(
                path, index=False)
    (root / "meta").mkdir()
    for size, dataset in zip((300, 3000), sorted(frame["Dataset"].unique()), strict=True):
        pd.DataFrame({"ID": range(size), "target": 0.0}).to_csv(
            root / "meta" / f"{dataset}_metadata.csv")
    return root / "res", root / "meta"


def test_collect_results_from_tree(tmp_path):
    results, metadata = write_tree(tmp_path)
    frame = stats.collect_results(results, metadata)
    assert len(frame) == 2 * 3 * 2 * 5
    assert set(frame["Compression_method"]) == {"mean", "bos", "pca1-2"}
    assert list(frame.columns[:9]) == list(stats.ID_COLUMNS)
    assert set(frame.loc[frame["Embedding_model"] == "esm2_150M", "Parameters"]) == {1.5e8}
    assert sorted(frame["dataset_size"].unique()) == [300, 3000]
    summary = stats.summarise_by(frame)
    assert len(summary) == 6 and (summary["n_datasets"] == 2).all()


def test_read_published_layouts(tmp_path):
    header = (",Model,Fold,R2_score_train,MAE_score_train,RMSE_score_train,R2_score_test,"
              "MAE_score_test,RMSE_score_test,rho_score_train,rho_score_test,nun_zero_coefs,"
              "Compression_method,Dataset,Dataset_Name,ModelSize,parameters,dataset_size,group,"
              "prot_length\n")
    body = "".join(f"{i},esmc,{i},0.9,1,1,0.{i + 1},1,1,0.9,0.5,12,mean,D_X,D,300M,300000000.0,"
                   f"1500,g,200\n" for i in range(5))
    path = tmp_path / "published.csv"
    path.write_text(header + body)
    frame = stats.read_per_fold(path)
    assert set(frame["Embedding_model"]) == {"esmc_300M"}
    assert set(frame["Model_family"]) == {"esmc"} and set(frame["Model_size"]) == {"300M"}
    assert set(frame["Parameters"]) == {3e8} and set(frame["dataset_size"]) == {1500}
    assert list(frame["num_nonzero_coefs"]) == [12] * 5
    assert not any(c.startswith("Unnamed") for c in frame.columns)
    single = tmp_path / "single.csv"
    single.write_text(",Model,Fold,R2_score_test,nun_zero_coefs,Compression_method,Dataset\n"
                      "0,esm2_150M,0,0.5,3,bos,D_X\n")
    frame = stats.read_per_fold(single)
    assert frame.loc[0, "Embedding_model"] == "esm2_150M" and frame.loc[0, "Parameters"] == 1.5e8


def test_duplicate_results_fail(tmp_path):
    results, _ = write_tree(tmp_path, models=("esm2_150M",))
    copy = results / "esm2_150M" / "combined.csv"
    stats.collect_results(results).to_csv(copy, index=False)
    with pytest.raises(UserError, match="duplicate per-fold result"):
        stats.collect_results(results)


def size_rows(sizes) -> pd.DataFrame:
    """Two folds per data set of one model whose score grows by 0.2 per tenfold more rows."""
    return pd.DataFrame([{"Dataset": f"D{i}", "Fold": f, "Embedding_model": "esm2_8M",
                          "Compression_method": "mean", "dataset_size": size,
                          "R2_score_test": 0.1 + 0.2 * np.log10(size)}
                         for i, size in enumerate(sizes) for f in range(2)])


def test_datasize_fit_recovers_slope():
    fit = stats.datasize_fits(size_rows((100, 1000, 10000, 3000, 300))).iloc[0]
    assert fit["slope_per_log10_size"] == pytest.approx(0.2)
    assert fit["intercept"] == pytest.approx(0.1)
    assert fit["r_squared"] == pytest.approx(1.0) and fit["n_datasets"] == 5
    assert fit["size_decades"] == pytest.approx(2.0) and fit["no_fit_reason"] == ""


@pytest.mark.parametrize("sizes, reason", [
    ((1435, 1600, 1801), "3 data sets spanning 0.10 decade of size"),  # the demo's assays
    ((100, 1000, 10000, 3000), "4 data sets spanning 2.00 decade of size"),
    ((1000, 1100, 1200, 1300, 1400, 1500), "6 data sets spanning 0.18 decade of size"),
])
def test_datasize_fit_needs_five_data_sets_over_half_a_decade(sizes, reason):
    fit = stats.datasize_fits(size_rows(sizes)).iloc[0]
    assert fit["no_fit_reason"] == f"{reason}; a line needs at least 5 spanning at least 0.5 decade"
    assert fit[["slope_per_log10_size", "intercept", "r_squared", "slope_se", "slope_p_value"]].isna().all()
    assert fit["n_datasets"] == len(sizes) and fit["min_size"] == min(sizes) and fit["max_size"] == max(sizes)
    assert stats.datasize_fit_reason([1000, 2000, 3000, 3162.3, 3162.3]) is None  # 5 spanning exactly 0.5 decade


def test_the_baseline_is_the_studys_one_hot_definition():
    assert stats.baseline_method("DMS") == "flat" and stats.baseline_method("PISCES") == "mean"
    assert stats.baseline_label() == "onehot:flat" and stats.baseline_name("flat") == "one-hot flat (baseline)"
    frame = pd.DataFrame({"Embedding_model": ["onehot"] * 3 + ["esm2_8M"] * 2,
                          "Compression_method": ["mean", "flat", "maxPool", "mean", "maxPool"],
                          "R2_score_test": [0.1, 0.2, 0.3, 0.4, 0.5]})
    assert stats.results_baseline(frame) == "flat"
    for method in ("mean", "maxPool"):  # every method's models meet one-hot flat, relabelled
        rows = stats.method_rows(frame, method)
        assert rows.set_index("Embedding_model")["R2_score_test"].to_dict() == {
            "esm2_8M": {"mean": 0.4, "maxPool": 0.5}[method], "onehot": 0.2}
        assert set(rows["Compression_method"]) == {method}
    assert stats.results_baseline(frame[frame["Compression_method"] != "flat"]) == "mean"  # PISCES' baseline
    assert stats.results_baseline(frame[frame["Embedding_model"] != "onehot"]) is None


def test_reml_variances_equal_anova_estimates_on_balanced_design(simulated_fit):
    """Independent check: on a balanced additive design REML equals the ANOVA estimators."""
    frame = simulate()
    y = frame["R2_score_test"].to_numpy()
    n_d, n_f, n_m = (frame[c].nunique() for c in ("Dataset", "Fold", "Compression_method"))
    grand = y.mean()
    effects = {c: frame.groupby(c)["R2_score_test"].transform("mean").to_numpy() - grand
               for c in ("Dataset", "Fold", "Compression_method")}
    residual = y - grand - sum(effects.values())
    ms_residual = np.sum(residual ** 2) / (len(y) - n_d - n_f - n_m + 2)
    ms_dataset = np.sum(effects["Dataset"] ** 2) / (n_d - 1)
    ms_fold = np.sum(effects["Fold"] ** 2) / (n_f - 1)
    info = simulated_fit.info
    assert info["var_residual"] == pytest.approx(ms_residual, rel=1e-3)
    assert info["var_Dataset"] == pytest.approx((ms_dataset - ms_residual) / (n_f * n_m), rel=1e-3)
    assert info["var_Fold"] == pytest.approx((ms_fold - ms_residual) / (n_d * n_m), rel=1e-3)
    expected_se = np.sqrt(2 * ms_residual / (n_d * n_f))
    assert simulated_fit.contrasts["std_error"].to_numpy() == pytest.approx(expected_se, rel=1e-3)


@pytest.mark.parametrize(("stem", "expected"), [
    ("IF1_ECOLI_mean", ("IF1_ECOLI", "mean")),
    ("IF1_ECOLI_pca1-2", ("IF1_ECOLI", "pca1-2")),
    ("IF1_ECOLI_h_avg", ("IF1_ECOLI", "h_avg")),
    ("MTH3_HAEAESTABILIZED_Tawfik2015_c_final", ("MTH3_HAEAESTABILIZED_Tawfik2015", "c_final")),
    ("IF1_ECOLI_h_avg+score", ("IF1_ECOLI", "h_avg+score")),
    ("IF1_ECOLI_mean+score", ("IF1_ECOLI", "mean+score")),
    ("IF1_ECOLI_finetune-full", ("IF1_ECOLI", "finetune-full")),
])
def test_result_stems_keep_methods_whose_names_hold_an_underscore(stem, expected):
    assert stats.parse_result_stem(stem) == expected
