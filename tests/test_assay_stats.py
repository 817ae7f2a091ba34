"""Assay-level statistics beside the study's mixed model, the robustness table of the study's claims
per protocol, protocols kept apart, and uninformative methods named and left out of the report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from plmtransfer.analysis import report, stats
from plmtransfer.errors import UserError

FOLD_DEVIATIONS = np.array([-0.02, -0.01, 0.0, 0.01, 0.02])  # sum to zero: fold means are the assay values
DIFFERENCES = np.array([0.05, 0.02, -0.01, 0.08, 0.03, 0.04])


def fixed_table() -> pd.DataFrame:
    """Six assays x five folds x two methods whose per-assay mean differences are ``DIFFERENCES``."""
    rows = []
    for index, difference in enumerate(DIFFERENCES):
        base = 0.3 + 0.05 * index
        for fold, deviation in enumerate(FOLD_DEVIATIONS, start=1):
            for method, value in (("mean", base), ("maxPool", base + difference)):
                rows.append({"Dataset": f"A{index}", "Fold": fold, "Embedding_model": "unirep256",
                             "Compression_method": method, "R2_score_test": value + deviation})
    return pd.DataFrame(rows)


def test_paired_differences_are_per_assay_fold_means():
    differences = stats.paired_assay_differences(fixed_table(), "R2_score_test", "Compression_method",
                                                 "maxPool", "mean")
    assert list(differences.index) == [f"A{i}" for i in range(6)]
    np.testing.assert_allclose(differences.to_numpy(), DIFFERENCES, atol=1e-12)


def test_wilcoxon_and_bootstrap_against_scipy_and_by_hand():
    result = stats.assay_level_test(DIFFERENCES, seed=0)
    assert (result["assay_n"], result["assay_wins_level"], result["assay_wins_reference"]) == (6, 5, 1)
    assert result["assay_mean_difference"] == pytest.approx(0.035, abs=1e-12)
    # by hand: |d| ranks 1..6, the one negative difference has rank 1, so W = 1; exactly two of the 64 sign
    # patterns have a negative rank sum <= 1, so the two-sided exact p is 2 * 2/64
    assert result["assay_wilcoxon_statistic"] == 1
    assert result["assay_wilcoxon_p"] == pytest.approx(4 / 64, abs=1e-12)
    reference = scipy_stats.wilcoxon(DIFFERENCES)
    assert result["assay_wilcoxon_p"] == pytest.approx(reference.pvalue, abs=1e-12)
    interval = scipy_stats.bootstrap((DIFFERENCES,), np.mean, n_resamples=stats.BOOTSTRAP_RESAMPLES,
                                     method="percentile", rng=np.random.default_rng(0)).confidence_interval
    assert (result["assay_ci_low"], result["assay_ci_high"]) == pytest.approx((interval.low, interval.high), abs=1e-12)
    # an independent percentile bootstrap over assays agrees to Monte Carlo precision
    rng = np.random.default_rng(123)
    means = DIFFERENCES[rng.integers(0, 6, size=(200_000, 6))].mean(axis=1)
    assert result["assay_ci_low"] == pytest.approx(np.percentile(means, 2.5), abs=2e-3)
    assert result["assay_ci_high"] == pytest.approx(np.percentile(means, 97.5), abs=2e-3)
    assert stats.assay_level_test(DIFFERENCES, seed=0) == result  # seeded: the same numbers again


def test_undefined_assay_statistics_are_nan():
    none = stats.assay_level_test([0.0, 0.0, 0.0])
    assert np.isnan(none["assay_wilcoxon_p"]) and none["assay_ci_low"] == none["assay_ci_high"] == 0
    single = stats.assay_level_test([0.2])
    assert single["assay_n"] == 1 and np.isnan(single["assay_ci_low"])


def test_contrasts_get_trailing_assay_columns_and_holm_adjustment():
    frame = fixed_table()
    extra = frame[frame["Compression_method"] == "mean"].assign(Compression_method="pca1")
    worse = 0.001 * (1 + extra["Dataset"].str[1:].astype(int))  # pca1 loses on every assay, by distinct amounts
    frame = pd.concat([frame, extra.assign(R2_score_test=extra["R2_score_test"] - worse)])
    fit = stats.fit_contrasts(frame, "R2_score_test", "Compression_method", "mean")
    table = stats.add_assay_level(fit.contrasts, frame, "R2_score_test")
    assert list(table.columns[:len(fit.contrasts.columns)]) == list(fit.contrasts.columns)
    assert list(table.columns[len(fit.contrasts.columns):]) == list(stats.ASSAY_COLUMNS)
    rows = table.set_index("level")
    assert rows.loc["pca1", "assay_wins_reference"] == 6
    assert rows.loc["pca1", "assay_wilcoxon_p"] == pytest.approx(2 / 64)
    raw = rows[["assay_wilcoxon_p"]].to_numpy().ravel()
    expected = np.minimum(1, np.maximum.accumulate(np.sort(raw) * [2, 1]))[np.argsort(np.argsort(raw))]
    np.testing.assert_allclose(rows["assay_p_adjusted"], expected)


def test_agreement_and_disagreement_in_words():
    assert stats.agreement(1e-10, 0.1, 0.3, 0.1) == "fold level only"
    assert stats.agreement(1e-10, 0.1, 0.01, 0.1) == "agree"
    assert stats.agreement(1e-10, 0.1, 0.01, -0.1) == "opposite directions"
    assert stats.agreement(0.5, 0.1, 0.01, 0.1) == "assay level only"
    table = pd.DataFrame({"level": ["bos"], "contrast": ["bos - mean"], "p_adjusted": [1e-27],
                          "assay_p_adjusted": [0.2], "assay_n": [30], "assay_wins_level": [12],
                          "agreement": ["fold level only"]})
    (note,) = stats.disagreement_notes(table, "contrasts X")
    assert "significant at fold level" in note and "not across assays" in note and "12 of 30 assays" in note


# ----------------------------------------------------------------------------- robustness and protocols

ASSAYS = 8
ALTERNATING = 0.02 * np.array([1, -1] * (ASSAYS // 2))  # no direction: not significant
# h_avg's features equal mean's after scaling (signatures equal to rounding); the others differ
SIGNATURES = {"mean": "16:1.5:-2.25:3.0", "h_avg": "16:1.50000001:-2.25:3.0", "flat": "200:4:5:6",
              "maxPool": "16:7:8:9", "pca1": "2:1:1:1", "bos": "16:0:0:0"}


def claims_frame() -> pd.DataFrame:
    """Per-fold results of two protocols where each claim has a known verdict.

    study: 1900 > onehot and 1900 > 256 on every assay (holds), 256 ~ 64 ~ onehot (not significant);
    mean > maxPool on every assay (holds), pca1 > mean on every assay (reverses). shuffled: every model
    difference vanishes. bos is constant and h_avg equals mean after scaling (named, left out).
    """
    rng = np.random.default_rng(0)
    base = 0.2 + 0.1 * rng.random(ASSAYS)
    offsets = {
        "study": {("onehot", "flat"): 0.0, ("unirep64", "mean"): ALTERNATING, ("unirep256", "mean"): -ALTERNATING,
                  ("unirep1900", "mean"): 0.1 + 0.01 * rng.random(ASSAYS)},
        "shuffled": {("onehot", "flat"): 0.0, ("unirep64", "mean"): ALTERNATING, ("unirep256", "mean"): -ALTERNATING,
                     ("unirep1900", "mean"): ALTERNATING},
    }
    rows = []
    for protocol, cells in offsets.items():
        cells = dict(cells)
        for method, shift in (("maxPool", -0.03), ("pca1", 0.05), ("bos", -0.2), ("h_avg", 0.0)):
            cells[("unirep256", method)] = cells[("unirep256", "mean")] + shift + 0.002 * rng.random(ASSAYS)
        for (model, method), offset in cells.items():
            values = base + offset
            for assay in range(ASSAYS):
                for fold, deviation in enumerate(FOLD_DEVIATIONS, start=1):
                    rows.append({"Dataset": f"ASSAY{assay}_X", "Fold": fold, "Embedding_model": model,
                                 "Compression_method": method, "Protocol": protocol,
                                 "R2_score_test": values[assay] + deviation + rng.normal(0, 1e-4),
                                 "feature_sd_max": 0.0 if method == "bos" else 0.3,
                                 "feature_signature": SIGNATURES[method]})
    return pd.DataFrame(rows)


def write_results(root, frame: pd.DataFrame):
    """The frame as the regression stage's per-fold CSVs, ``<protocol>/<model>/<D>_<method>.csv``."""
    for (protocol, model, dataset, method), rows in frame.groupby(
            ["Protocol", "Embedding_model", "Dataset", "Compression_method"]):
        path = root / protocol / model / f"{dataset}_{method}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        rows.drop(columns=["Embedding_model"]).assign(Model="Lasso").to_csv(path, index=False)
    return root


@pytest.fixture(scope="module")
def claims(tmp_path_factory):
    """The claims frame read back from disk, as the statistics stage reads results."""
    root = write_results(tmp_path_factory.mktemp("claims") / "res", claims_frame())
    return root, stats.collect_results(root)


def test_uninformative_inputs_decided_from_the_data(claims):
    _, frame = claims
    flagged = stats.uninformative_inputs(frame).set_index(["Compression_method"])
    assert set(flagged.index) == {"bos", "h_avg"}
    assert set(flagged.loc["bos", "status"]) == {"constant"} and len(flagged.loc["bos"]) == ASSAYS
    assert set(flagged.loc["h_avg", "same_as"]) == {"mean"}
    kept = stats.informative_rows(frame, stats.uninformative_inputs(frame))
    assert set(kept["Compression_method"]) == {"flat", "mean", "maxPool", "pca1"}


def test_robustness_verdicts_per_protocol(claims):
    _, frame = claims
    table = stats.robustness_table(frame)
    verdicts = {(row.Protocol, row.question, row.claim): row.verdict for row in table.itertuples()}
    assert verdicts[("study", "pretrained", "unirep1900 > onehot")] == "holds"
    assert verdicts[("study", "pretrained", "unirep64 > onehot")] == "not significant"
    assert verdicts[("shuffled", "pretrained", "unirep1900 > onehot")] == "not significant"
    assert verdicts[("study", "pooling", "mean > maxPool")] == "holds"
    assert verdicts[("study", "pooling", "mean > pca1")] == "reverses"
    assert verdicts[("study", "size", "unirep1900 > unirep256")] == "holds"
    assert verdicts[("study", "size", "unirep256 > unirep64")] == "not significant"
    assert not table["claim"].str.contains("bos|h_avg").any()  # named, not ranked
    assert list(table["question"].unique()) == list(stats.QUESTIONS)
    # re-derived from the per-fold rows: mean over assays of the per-assay fold-mean differences
    row = table[(table["Protocol"] == "study") & (table["claim"] == "unirep1900 > onehot")].iloc[0]
    study = frame[frame["Protocol"] == "study"]
    per_assay = study.groupby(["Embedding_model", "Dataset"])["R2_score_test"].mean()
    assert row["mean_difference"] == pytest.approx((per_assay["unirep1900"] - per_assay["onehot"]).mean(), abs=1e-12)
    assert (row["wins_better"], row["n_assays"]) == (ASSAYS, ASSAYS)
    assert row["wilcoxon_p"] == pytest.approx(2 / 2 ** ASSAYS)
    assert row["p_adjusted"] == pytest.approx(3 * 2 / 2 ** ASSAYS)  # Holm over the 3 pretrained models
    assert row["fold_estimate"] == pytest.approx(row["mean_difference"], abs=1e-3) and row["fold_p"] < 1e-6


def test_protocols_are_never_pooled(claims):
    _, frame = claims
    summary = stats.summarise_by(frame)
    assert set(summary["Protocol"]) == {"study", "shuffled"}
    assert summary.groupby(["Embedding_model", "Compression_method", "Protocol"]).size().max() == 1
    with pytest.raises(UserError, match="2 protocols"):
        stats.fit_contrasts(frame[frame["Embedding_model"] == "unirep256"], "R2_score_test", "Compression_method")


def test_results_without_a_protocol_read_as_the_study(tmp_path):
    frame = claims_frame()
    frame = frame[frame["Protocol"] == "study"].drop(columns=["Protocol", "feature_sd_max", "feature_signature"])
    write_results(tmp_path, frame.assign(Protocol="x"))
    for path in tmp_path.rglob("*.csv"):
        pd.read_csv(path).drop(columns="Protocol").to_csv(path, index=False)
    read = stats.collect_results(tmp_path)
    assert set(read["Protocol"]) == {"study"}
    assert stats.uninformative_inputs(read).empty  # no feature columns: nothing is flagged


def test_report_opens_with_robustness_and_names_uninformative_methods(claims, tmp_path):
    root, _ = claims
    paths, notes = report.run_report(root, tmp_path / "stats", tmp_path / "figures")
    page = (tmp_path / "stats" / "report.html").read_text()
    assert page.index('id="robustness"') < page.index("Summary by model and method")
    assert "constant: carries no sequence information" in page and "<b>bos</b>" in page
    assert "same features as mean after scaling" in page
    assert any(note.startswith("bos (unirep256): constant") for note in notes)
    per_fold = pd.read_csv(tmp_path / "stats" / "per_fold.csv")
    assert "bos" in set(per_fold["Compression_method"])  # still written to disk
    contrasts = pd.read_csv(tmp_path / "stats" / "contrasts_Compression_method_unirep256.csv")
    assert set(contrasts["level"]) == {"maxPool", "pca1"}  # bos and h_avg left out
    assert list(contrasts.columns[-len(stats.ASSAY_COLUMNS):]) == list(stats.ASSAY_COLUMNS)
    assert (tmp_path / "stats" / "contrasts_shuffled_Compression_method_unirep256.csv").is_file()
    summary = pd.read_csv(tmp_path / "stats" / "summary_by_model_method.csv")
    assert not summary["Compression_method"].isin(["bos", "h_avg"]).any()
    robustness = pd.read_csv(tmp_path / "stats" / "robustness.csv")
    assert set(robustness["Protocol"]) == {"study", "shuffled"}
    assert "Fold level (mixed model, the study&#x27;s)" in page or "Fold level (mixed model, the study's)" in page


def test_fold_level_significance_without_assay_level_support_is_said():
    """A gain on 2 of 8 assays, symmetric noise on the others: the mixed model, counting 5 folds per assay
    as observations, calls it significant; over assays it is not, and the note says so."""
    rng = np.random.default_rng(0)
    effects = [0.1, 0.1, -0.02, 0.02, -0.03, 0.03, -0.01, 0.01]
    rows = []
    for assay, effect in enumerate(effects):
        for fold, deviation in enumerate(FOLD_DEVIATIONS, start=1):
            base = 0.3 + 0.05 * assay + deviation
            rows += [{"Dataset": f"D{assay}", "Fold": fold, "Compression_method": "mean",
                      "R2_score_test": base + rng.normal(0, 0.002)},
                     {"Dataset": f"D{assay}", "Fold": fold, "Compression_method": "iDCT3",
                      "R2_score_test": base + effect + rng.normal(0, 0.002)}]
    frame = pd.DataFrame(rows).assign(Embedding_model="unirep256")
    fit = stats.fit_contrasts(frame, "R2_score_test", "Compression_method", "mean")
    row = stats.add_assay_level(fit.contrasts, frame, "R2_score_test").iloc[0]
    assert row["p_adjusted"] < 0.01 and row["assay_p_adjusted"] > 0.2
    assert (row["assay_wins_level"], row["assay_n"]) == (5, 8)
    assert row["agreement"] == "fold level only"
    (note,) = stats.disagreement_notes(stats.add_assay_level(fit.contrasts, frame, "R2_score_test"), "contrasts X")
    assert note.startswith("contrasts X: iDCT3 - mean is significant at fold level")
