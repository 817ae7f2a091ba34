"""The layer sweep's analysis (:mod:`plmtransfer.analysis.layers`), its figure and its report section, re-derived
from hand-made per-fold CSVs whose best layers and means are known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from plmtransfer import layout
from plmtransfer.analysis import figures, layers, report, stats
from plmtransfer.errors import UserError
from tests.test_plot import per_fold_frame

ASSAYS = ("PROT0_HUMAN_X", "PROT1_HUMAN_X", "PROT2_HUMAN_X", "PROT3_HUMAN_X", "PROT4_HUMAN_X", "PROT5_HUMAN_X")
FOLD_NOISE = np.array([-0.02, -0.01, 0.0, 0.01, 0.02])  # sums to 0: an assay's fold mean is its value exactly
ASSAY_OFFSET = np.array([0.0, 0.1, -0.1, 0.05, -0.05, 0.0])  # sums to 0: the mean over assays is the layer's base
# per model: layer -> base test R² (the mean over assays); unirep_64 peaks at layer 2 of 4, unirep_256 at 4 (its last)
R2_BASE = {"unirep_64": {0: 0.05, 1: 0.20, 2: 0.35, 3: 0.30, 4: 0.25},
           "unirep_256": {0: 0.02, 1: 0.10, 2: 0.20, 3: 0.30, 4: 0.40}}
# unirep_64's layer 2 minus its layer 4 varies over assays: 0.10 + this (loses on assay 0, wins on the 5 others)
BEST_JITTER = np.array([-0.15, 0.02, 0.03, 0.01, 0.04, 0.05])
RHO_BASE = {"unirep_64": {0: 0.1, 1: 0.3, 2: 0.4, 3: 0.5, 4: 0.45},
            "unirep_256": {0: 0.1, 1: 0.2, 2: 0.6, 3: 0.5, 4: 0.4}}


def assay_value(model: str, layer: int, index: int) -> float:
    """The per-assay (fold-mean) test R² by construction."""
    jitter = BEST_JITTER[index] - BEST_JITTER.mean() if (model, layer) == ("unirep_64", 2) else 0.0
    return R2_BASE[model][layer] + ASSAY_OFFSET[index] + jitter


def fold_rows(model: str, layer: int, index: int, dataset: str) -> pd.DataFrame:
    """One regression result file: 5 outer folds of one model, layer and assay."""
    return pd.DataFrame({"Fold": range(5), "R2_score_test": assay_value(model, layer, index) + FOLD_NOISE,
                         "rho_score_test": RHO_BASE[model][layer] + ASSAY_OFFSET[index] + FOLD_NOISE,
                         "Dataset": dataset, "Embedding_model": model, "Compression_method": "mean"})


def write_sweep(root, layer_column: bool) -> None:
    """The per-fold CSVs of a sweep: named after their input (``<model>/<D>/embed_layer_<L>_mean.csv``), or with
    a ``Layer`` column in ``<model>/layer<L>/<D>_mean.csv``; plus one-hot ``flat`` with no layer."""
    for model, bases in R2_BASE.items():
        for layer in bases:
            for index, dataset in enumerate(ASSAYS):
                frame = fold_rows(model, layer, index, dataset)
                if layer_column:
                    path = root / model / f"layer{layer}" / layout.result_name(dataset, "mean")
                    frame["Layer"] = layer
                else:
                    path = root / model / dataset / layout.compressed_name(layer, "mean", "csv")
                path.parent.mkdir(parents=True, exist_ok=True)
                frame.to_csv(path, index=False)
    for index, dataset in enumerate(ASSAYS):
        path = root / "onehot" / layout.result_name(dataset, "flat")
        path.parent.mkdir(parents=True, exist_ok=True)
        fold_rows("unirep_64", 0, index, dataset).assign(Embedding_model="onehot", Compression_method="flat").to_csv(
            path, index=False)


def swept_per_fold_frame() -> pd.DataFrame:
    """:func:`tests.test_plot.per_fold_frame` (last layers, no ``Layer`` column) with esm2_8M's layers 1 to 5 added,
    each 0.02 lower per layer above the last: a frame from which every registered figure draws."""
    frame = per_fold_frame()
    rows = frame[frame["Embedding_model"] == "esm2_8M"]
    extra = [rows.assign(Layer=layer, R2_score_test=rows["R2_score_test"] - 0.02 * (6 - layer))
             for layer in range(1, 6)]
    return pd.concat([frame, *extra], ignore_index=True)


@pytest.fixture(params=[False, True], ids=["layer-in-file-name", "layer-column"])
def sweep(request, tmp_path):
    """A results tree of the hand-made sweep, collected as the statistics stage collects it."""
    write_sweep(tmp_path / "results", request.param)
    return stats.collect_results(tmp_path / "results")


def test_each_result_gets_its_layer_and_relative_depth(sweep):
    layered = layers.with_layers(sweep)
    unirep = layered[layered["Embedding_model"] == "unirep_64"]
    assert sorted(unirep["Layer"].unique()) == [0, 1, 2, 3, 4]
    assert (unirep["Layers"] == 4).all()
    np.testing.assert_allclose(unirep["Relative_depth"], unirep["Layer"] / 4)
    assert set(unirep.loc[unirep["Layer"] == 2, "Relative_depth"]) == {0.5}
    # a result that names no layer is the model's last (the study's); one-hot has none (0 layers): no depth
    onehot = layered[layered["Embedding_model"] == "onehot"]
    assert set(onehot["Layer"]) == {0} and onehot["Relative_depth"].isna().all()
    assert layers.swept_models(sweep) == ["unirep_256", "unirep_64"]


def test_curves_are_the_mean_over_assays_of_the_fold_means(sweep):
    curves = layers.layer_curves(sweep).set_index(["Embedding_model", "Layer"])
    for model, bases in R2_BASE.items():
        for layer, base in bases.items():
            row = curves.loc[(model, layer)]
            assert row["mean"] == pytest.approx(base, abs=1e-12)
            assert row["n_datasets"] == len(ASSAYS)
            assert row["Relative_depth"] == pytest.approx(layer / 4)
            values = [assay_value(model, layer, index) for index in range(len(ASSAYS))]
            assert row["sd"] == pytest.approx(np.std(values, ddof=1))
    assert curves.loc[curves["is_best"]].index.tolist() == [("unirep_256", 4), ("unirep_64", 2)]
    assert curves.loc[curves["is_last"]].index.tolist() == [("unirep_256", 4), ("unirep_64", 4)]
    rho = layers.layer_curves(sweep, "rho_score_test").set_index(["Embedding_model", "Layer"])
    assert rho.loc[rho["is_best"]].index.tolist() == [("unirep_256", 2), ("unirep_64", 3)]


def test_curves_use_only_the_assays_that_hold_every_layer(sweep):
    missing = sweep[~((sweep["Embedding_model"] == "unirep_64") & (sweep["Dataset"] == ASSAYS[1])
                      & (sweep["Layer"] == 3))]
    curves = layers.layer_curves(missing).set_index(["Embedding_model", "Layer"])
    assert (curves.loc["unirep_64", "n_datasets"] == len(ASSAYS) - 1).all()
    kept = [index for index in range(len(ASSAYS)) if index != 1]
    expected = np.mean([assay_value("unirep_64", 0, index) for index in kept])
    assert curves.loc[("unirep_64", 0), "mean"] == pytest.approx(expected)


def test_best_against_last_over_assays(sweep):
    table = layers.best_vs_last(sweep).set_index("Embedding_model")
    small = table.loc["unirep_64"]
    assert (small["best_layer"], small["last_layer"], small["best_depth"]) == (2, 4, 0.5)
    assert small["best_mean"] == pytest.approx(0.35) and small["last_mean"] == pytest.approx(0.25)
    differences = np.array([assay_value("unirep_64", 2, i) - assay_value("unirep_64", 4, i)
                            for i in range(len(ASSAYS))])
    assert (small["assay_n"], small["assay_wins_level"], small["assay_wins_reference"]) == (6, 5, 1)
    assert small["assay_mean_difference"] == pytest.approx(0.10)
    assert small["assay_wilcoxon_p"] == pytest.approx(scipy_stats.wilcoxon(differences).pvalue)
    assert small["assay_ci_low"] < 0.10 < small["assay_ci_high"]
    # two models, one test (unirep_256's best is its last: no difference to test): Holm leaves p as it is
    assert small["assay_p_adjusted"] == pytest.approx(small["assay_wilcoxon_p"])
    big = table.loc["unirep_256"]
    assert (big["best_layer"], big["last_layer"], big["assay_wins_level"]) == (4, 4, 0)
    assert np.isnan(big["assay_wilcoxon_p"])
    assert "better on 5 of 6 assays" in layers.summary_sentence(table.reset_index().iloc[1])


def test_best_layer_per_dataset(sweep):
    table = layers.best_layer_per_dataset(sweep).set_index(["Embedding_model", "Dataset"])
    # unirep_64 on assay 0: layer 2 scores 0.35 - 0.15 = 0.20 (the jitter sums to 0), layer 3 0.30, layer 4 0.25
    assert table.loc[("unirep_64", ASSAYS[0]), "best_layer"] == 3
    assert table.loc[("unirep_64", ASSAYS[0]), "best_minus_last"] == pytest.approx(0.05)
    assert (table.loc["unirep_64"].drop(ASSAYS[0])["best_layer"] == 2).all()
    assert (table.loc["unirep_256", "best_layer"] == 4).all()
    assert (table.loc["unirep_256", "best_minus_last"] == 0).all()


def test_last_layer_rows_keep_one_layer_per_model(sweep):
    last = layers.with_layers(layers.last_layer_rows(sweep))
    assert last.groupby("Embedding_model")["Layer"].unique().map(list).to_dict() == {
        "onehot": [0.0], "unirep_256": [4.0], "unirep_64": [4.0]}
    single = per_fold_frame()
    assert layers.last_layer_rows(single) is single


def test_the_figure_is_drawn_from_the_curves(sweep, tmp_path, monkeypatch):
    drawn = {}
    real = figures._layer_panel

    def spy(axis, curves, models, response):
        drawn[response] = curves
        real(axis, curves, models, response)

    monkeypatch.setattr(figures, "_layer_panel", spy)
    paths, notes = figures.all_figures(sweep, tmp_path)
    assert {path.name for path in paths} >= {"layers_mean.png", "layers_mean.pdf"}
    assert set(drawn) == {"R2_score_test", "rho_score_test"}
    r2 = drawn["R2_score_test"].set_index(["Embedding_model", "Layer"])
    assert r2.loc[("unirep_64", 2), "mean"] == pytest.approx(0.35)
    assert r2.loc[("unirep_64", 2), "is_best"]
    # the other figures read the last layer only: the model heat map has one column per model
    assert not any("several" in note for note in notes)


def test_one_layer_per_model_gives_no_layer_figure(tmp_path):
    paths, notes = figures.all_figures(per_fold_frame(), tmp_path)
    assert not any(path.name.startswith("layers_") for path in paths)
    assert "no figure layers: the results hold one layer per model" in notes


def test_the_report_has_the_layer_section(tmp_path):
    write_sweep(tmp_path / "results", layer_column=False)
    written, notes = report.run_report(tmp_path / "results", tmp_path / "stats", tmp_path / "figures")
    names = {path.name for path in written}
    assert {"layers_curves.csv", "layers_best_vs_last.csv", "layers_best_per_dataset.csv", "layers_mean.png"} <= names
    best = pd.read_csv(tmp_path / "stats" / "layers_best_vs_last.csv").set_index("Embedding_model")
    assert best.loc["unirep_64", "best_layer"] == 2 and best.loc["unirep_64", "assay_wins_level"] == 5
    page = (tmp_path / "stats" / "report.html").read_text()
    assert 'id="layers"' in page and "best layer 2 of 4" in page
    # the rest of the report reads the last layer: the model summary holds one row per model and method
    summary = pd.read_csv(tmp_path / "stats" / "summary_by_model_method.csv").set_index("Embedding_model")
    assert summary.loc["unirep_64", "mean"] == pytest.approx(0.25)
    assert summary.loc["unirep_256", "mean"] == pytest.approx(0.40)


def test_a_swept_frame_draws_the_layer_figure_and_leaves_the_others_unchanged(tmp_path):
    frame = swept_per_fold_frame()
    curves = layers.layer_curves(frame[frame["Compression_method"] == "mean"]).set_index("Layer")
    assert curves.index.tolist() == [1, 2, 3, 4, 5, 6] and curves.loc[6, "is_best"]
    np.testing.assert_allclose(curves["Relative_depth"], np.arange(1, 7) / 6)
    last = layers.last_layer_rows(frame)
    assert last["Layer"].isna().all()
    pd.testing.assert_frame_equal(last.drop(columns="Layer"), per_fold_frame())


def test_fits_that_would_pool_layers_refuse_a_sweep(sweep):
    with pytest.raises(UserError, match="several layers of unirep_256, unirep_64.*--where Layer=L"):
        layers.require_one_layer(sweep, "the mixed model")
    layers.require_one_layer(sweep[sweep["Layer"] == 4], "the mixed model")
