"""Tests of plmtransfer.analysis.figures (and its layout toolkit) and the scripts: every figure is written
with the expected axes."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plmtransfer.analysis import figure_layout, figures, stats
from tests.test_stats import simulate, write_tree

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def captured(monkeypatch):
    """Record every figure saved (titles, labels, scales, limits, tick labels) before it is closed.

    Shared labels are read from the figure and its subfigures (the panels and the legend area).
    """
    records = []
    original = figures.save_figure

    def recording(figure, stem):
        figure.canvas.draw()
        axes = [a for a in figure.axes if a.get_visible() and a.get_label() != "<colorbar>"]
        figures = [figure, *figure.subfigs]

        def shared(name):
            return [getattr(f, name).get_text() for f in figures if getattr(f, name, None)]

        records.append({
            "stem": Path(stem).name,
            "suptitle": " ".join(" ".join(shared("_suptitle")).split()),
            "titles": [a.get_title() for a in axes],
            "xlabels": [a.get_xlabel() for a in axes] + shared("_supxlabel"),
            "ylabels": [a.get_ylabel() for a in axes] + shared("_supylabel"),
            "xscales": [a.get_xscale() for a in axes],
            "xlims": [a.get_xlim() for a in axes],
            "ylims": [a.get_ylim() for a in axes],
            "xticks": [[t.get_text() for t in a.get_xticklabels()
                        if a.get_xlim()[0] <= t.get_position()[0] <= a.get_xlim()[1]] for a in axes],
            "yticks": [[t.get_text() for t in a.get_yticklabels()] for a in axes],
            "texts": [t.get_text() for a in axes for t in a.texts],
            "clims": [a.images[0].get_clim() for a in axes if a.images],
            "colorbar_extend": [a.get_label() == "<colorbar>" and a._colorbar.extend
                                for a in figure.axes if a.get_label() == "<colorbar>"],
        })
        return original(figure, stem)

    monkeypatch.setattr(figures, "save_figure", recording)
    return records


def per_fold_frame():
    """Tidy per-fold results: 3 data sets x 3 models x 2 methods x 5 folds, with sizes."""
    frames = []
    for index, model in enumerate(("onehot", "esm2_8M", "esm2_150M")):
        frame = simulate(n_datasets=3, effects={"mean": 0.0, "bos": -0.05}, seed=index)
        frame["Embedding_model"] = model
        frame["R2_score_test"] += 0.05 * index
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    frame = stats.normalise_results(frame, "simulated")
    frame["dataset_size"] = frame["Dataset"].map({"PROT0_HUMAN_X": 300, "PROT1_HUMAN_X": 1000,
                                                  "PROT2_HUMAN_X": 5000})
    return frame


def assert_written(paths):
    """Both PNG and PDF exist and are non-empty."""
    assert sorted(p.suffix for p in paths) == [".pdf", ".png"]
    for path in paths:
        assert path.stat().st_size > 1000
    assert paths[0].read_bytes()[:4] in (b"\x89PNG", b"%PDF")


def test_forest_plot(tmp_path, captured):
    table = stats.fit_contrasts(simulate(n_datasets=4), adjust="single-step").contrasts
    assert_written(figures.forest_plot(table, tmp_path / "forest"))
    record = captured[0]
    assert "each compression method − mean" in record["suptitle"]
    assert "single-step" in record["suptitle"]
    assert record["xlabels"][0] == "difference in test R² (unitless) vs mean"


def test_forest_plot_degenerate_contrasts(tmp_path, captured):
    table = stats.fit_contrasts(simulate(n_datasets=4), adjust="single-step").contrasts
    table.loc[0, ["ci_low", "ci_high"]] = np.nan
    table.loc[1, "estimate"] = np.nan
    assert_written(figures.forest_plot(table, tmp_path / "forest"))
    texts = captured[0]["texts"]
    assert texts.count("no estimate") == 1 and len(texts) == len(table)


def test_model_size_plot(tmp_path, captured):
    assert_written(figures.model_size_plot(per_fold_frame(), tmp_path / "size", method="mean"))
    record = captured[0]
    assert record["titles"] == ["esm2"] and record["xscales"] == ["log"]
    assert "model parameters (count, log scale)" in record["xlabels"]
    assert "against model size" in record["suptitle"]


def test_model_size_panels_ordered_by_size_on_one_scale(tmp_path, captured):
    frame = per_fold_frame()
    frame = frame[frame["Compression_method"] == "mean"]
    unirep = frame[frame["Embedding_model"] == "esm2_8M"].assign(Embedding_model="unirep_64")
    frame = stats.normalise_results(pd.concat([frame, unirep]).drop(
        columns=["Model_family", "Model_size", "Parameters", "Random_weights"]), "test")
    figures.model_size_plot(frame, tmp_path / "size")
    record = captured[0]
    assert record["titles"] == ["unirep", "esm2"]
    assert record["xlims"][0] == record["xlims"][1] == pytest.approx((152_029 / 2, 150e6 * 2))
    assert record["xticks"][0] == ["100k", "1M", "10M", "100M"]


def test_datasize_and_heatmap(tmp_path, captured):
    frame = per_fold_frame()
    assert_written(figures.datasize_plot(frame, tmp_path / "datasize", method="mean"))
    # 3 data sets support no line against size: each at its place, labelled, in order of size
    assert captured[0]["xscales"] == ["linear"]
    assert captured[0]["xlabels"][0] == "data set (rows), in order of size"
    assert [tick.replace("\n", "") for tick in captured[0]["xticks"][0]] == [
        "PROT0_HUMAN_X (300 rows)", "PROT1_HUMAN_X (1k rows)", "PROT2_HUMAN_X (5k rows)"]
    assert "no line against size: 3 data sets spanning 1.22 decade of size" in captured[0]["suptitle"]
    assert_written(figures.heatmap_plot(frame[frame["Embedding_model"] == "esm2_8M"],
                                      tmp_path / "heatmap"))
    assert captured[1]["ylabels"][0] == "data set"
    assert "per data set and compression method" in captured[1]["suptitle"]


def test_heatmap_scale_covers_typical_cells_and_labels_off_scale_rows(tmp_path, captured):
    frame = stats.normalise_results(simulate(n_datasets=8, effects={"mean": 0.0, "bos": -0.05}),
                                    "simulated")
    frame.loc[frame["Dataset"] == "PROT0_HUMAN_X", "R2_score_test"] -= 3.5
    figures.heatmap_plot(frame, tmp_path / "heatmap")
    record = captured[0]
    hard = frame[frame["Dataset"] == "PROT0_HUMAN_X"].groupby("Compression_method")[
        "R2_score_test"].mean().min()
    assert record["yticks"][0][-1] == f"PROT0_HUMAN_X (▼ {hard:.2f})"
    assert record["colorbar_extend"] == ["min"]
    assert "take the lowest colour" in record["suptitle"]


def test_learning_curves_flag_random_models(tmp_path, captured):
    frame = per_fold_frame()
    frame = frame[frame["Compression_method"] == "mean"]
    curves = pd.concat([frame.assign(Sample_size=n, R2_score_test=frame["R2_score_test"]
                                     - 0.1 * np.log10(1000 / n)) for n in (50, 200)])
    curves["Embedding_model"] = curves["Embedding_model"].replace("esm2_8M", "esm2_t2_tiny_random")
    assert_written(figures.learning_curve_plot(curves, tmp_path / "curves"))
    record = captured[0]
    assert len(record["titles"]) == 3 and set(record["xscales"]) == {"log"}
    assert "training sample size (sequences, log scale)" in record["xlabels"]
    assert figure_layout.model_label("esm2_t2_tiny_random") == "esm2_t2_tiny_random [random weights]"


def curve_frame(sizes=(32, 100, 320, 1000, 5000), datasets=("PROT0_HUMAN_X",)):
    """Learning-curve rows: two models, 3 folds; R² -1 ± 2 at 32 sequences, -0.2..0.3 above."""
    rows = []
    for dataset, model, size, fold in itertools.product(datasets, ("esm2_8M", "onehot"), sizes,
                                                        range(3)):
        mean = -1.0 if size < 100 else 0.3 - 0.5 * (100 / size) - 0.1 * (model == "onehot")
        spread = 2.0 if size < 100 else 0.01
        rows.append({"Dataset": dataset, "Embedding_model": model, "Compression_method": "mean",
                     "Fold": fold, "Sample_size": size, "R2_score_test": mean + spread * (fold - 1)})
    return stats.normalise_results(pd.DataFrame(rows), "test")


def test_learning_curve_range_ticks_and_off_scale_marks(tmp_path, captured):
    frame = curve_frame()
    figures.learning_curve_plot(frame, tmp_path / "curves")
    record = captured[0]
    means = frame.groupby(["Embedding_model", "Sample_size"])["R2_score_test"].agg(["mean", "std"])
    focus = means[means.index.get_level_values("Sample_size") >= 100]
    lower, upper = min(-0.5, focus["mean"].min()), (focus["mean"] + focus["std"]).max()
    pad = 0.05 * (upper - lower)
    assert record["ylims"][0] == pytest.approx((lower - pad, upper + pad))
    assert record["xticks"][0] == ["32", "100", "1k"]
    assert record["xlabels"][0] == "▼ 2 below axis, lowest -1.00"


def test_learning_curves_beyond_max_panels_go_onto_pages(tmp_path, captured):
    frame = curve_frame(sizes=(100, 1000), datasets=("PROT0_HUMAN_X", "PROT1_HUMAN_X", "PROT2_X"))
    paths = figures.learning_curve_plot(frame, tmp_path / "curves", max_panels=2)
    assert [p.name for p in paths] == ["curves_page1.png", "curves_page1.pdf",
                                       "curves_page2.png", "curves_page2.pdf"]
    assert [len(r["titles"]) for r in captured] == [2, 1]
    assert "(page 2 of 2)" in captured[1]["suptitle"]
    assert captured[0]["xlabels"][:2] == ["", ""]


def test_all_figures_returns_every_learning_curve_page(tmp_path, monkeypatch):
    monkeypatch.setattr(figures, "MAX_PANELS", 1)
    frame = curve_frame(sizes=(100, 1000), datasets=("PROT0_HUMAN_X", "PROT1_HUMAN_X"))
    per_fold = frame[frame["Sample_size"] == 1000].drop(columns="Sample_size").assign(
        dataset_size=1000)
    paths, _ = figures.all_figures(per_fold, tmp_path, sampling=frame)
    assert {p.name for p in paths} >= {"learning_curves_mean_page1.png",
                                       "learning_curves_mean_page2.pdf"}
    assert all(p.is_file() for p in paths)


def test_helpers_wrap_ticks_styles_and_ranges():
    assert figure_layout.wrap_label("MTH3_HAEAESTABILIZED_Tawfik2015", 2.0, 9) == (
        "MTH3_HAEAESTABILIZED_\nTawfik2015")
    assert figure_layout.wrap_label("GAL4_YEAST_Shendure2015", 2.0, 9) == "GAL4_YEAST_Shendure2015"
    assert [figure_layout.human_count(v) for v in (32, 1000, 3200, 152_029, 15e9)] == [
        "32", "1k", "3.2k", "152k", "15B"]
    styles = {(s["color"], s["marker"]) for s in map(figure_layout.line_style, range(64))}
    assert len(styles) == 64
    assert figure_layout.informative_range("R2_score_test", [0.1, 0.4], [-3, 0.1, 0.4]) == pytest.approx(
        (-0.5 - 0.045, 0.4 + 0.045))
    assert figure_layout.informative_range("R2_score_test", [0.5], [-16, 0.5, 14]) == pytest.approx(
        (-0.5 - 0.075, 1.0 + 0.075))
    assert figure_layout.informative_range("MAE_score_test", [0.1], [0.1, 3.0]) == pytest.approx(
        (0.1 - 0.145, 3.0 + 0.145))
    assert list(figure_layout.typical([0.1, 0.2, 0.3, 0.4, -3.0])) == [0.1, 0.2, 0.3, 0.4]


def test_report_cli_on_tiny_tree(tmp_path):
    results, metadata = write_tree(tmp_path, models=("esm2_t2_tiny_random",))
    command = [sys.executable, str(REPO / "scripts" / "stats.py"), "report", "--results-dir",
               str(results), "--metadata-dir", str(metadata), "--out-dir", str(tmp_path / "stats"),
               "--figures-dir", str(tmp_path / "figures")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    written = {Path(line).name for line in done.stdout.split()}
    assert {"per_fold.csv", "summary_by_model_method.csv",
            "contrasts_Compression_method_esm2_t2_tiny_random.csv", "datasize_fits.csv",
            "forest_Compression_method_esm2_t2_tiny_random.png", "datasize_mean.pdf",
            "heatmap_methods_esm2_t2_tiny_random.png", "model_size_mean.png"} <= written
    assert "RANDOM weights" in done.stderr and "learning_curves" not in done.stderr  # not asked for: a fact
    assert "no figure learning_curves: learning curves were not asked for" in (
        tmp_path / "stats" / "report.html").read_text(encoding="utf-8")
    contrasts = pd.read_csv(tmp_path / "stats" / "contrasts_Compression_method_esm2_t2_tiny_random.csv")
    assert sorted(contrasts["level"]) == ["bos", "pca1-2"]
    assert contrasts["level_random_weights"].eq(False).all()


def test_cli_user_error_is_one_line(tmp_path):
    command = [sys.executable, str(REPO / "scripts" / "stats.py"), "lme", "--input",
               str(tmp_path / "missing"), "-o", str(tmp_path / "out.csv")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "no such results directory" in done.stderr
    assert not (tmp_path / "out.csv").exists()


def test_heatmap_beyond_max_rows_goes_onto_pages_with_one_scale(tmp_path, captured):
    frame = per_fold_frame()
    frame = frame[frame["Embedding_model"] == "esm2_8M"]
    paths = figures.heatmap_plot(frame, tmp_path / "heatmap", max_rows=2)
    assert [p.name for p in paths] == ["heatmap_page1.png", "heatmap_page1.pdf",
                                       "heatmap_page2.png", "heatmap_page2.pdf"]
    assert [len(r["yticks"][0]) for r in captured] == [2, 1]
    assert "(page 1 of 2)" in captured[0]["suptitle"]
    assert captured[0]["clims"] == captured[1]["clims"]


def test_onehot_flat_joins_the_model_contrasts_and_figures_of_every_method(tmp_path):
    """On DMS one-hot is `flat` only; the models are still compared with it within `mean` (and any
    other method), and the size figure and heat map of `mean` show it."""
    results, metadata = write_tree(tmp_path, models=("esm2_150M", "esm2_8M"), methods=("mean", "bos"))
    flat = write_tree(tmp_path / "flat", models=("onehot",), methods=("flat",))[0]
    for path in flat.glob("onehot/*.csv"):
        (results / "onehot").mkdir(exist_ok=True)
        path.rename(results / "onehot" / path.name)
    command = [sys.executable, str(REPO / "scripts" / "stats.py"), "report", "--results-dir", str(results),
               "--metadata-dir", str(metadata), "--out-dir", str(tmp_path / "stats"),
               "--figures-dir", str(tmp_path / "figures")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    frame = stats.collect_results(results, metadata)
    for method in ("mean", "bos"):
        contrasts = pd.read_csv(tmp_path / "stats" / f"contrasts_Embedding_model_{method}.csv")
        assert sorted(contrasts["contrast"]) == ["esm2_150M - onehot", "esm2_8M - onehot"]
        rows = stats.method_rows(frame, method)
        assert set(rows["Compression_method"]) == {method} and len(rows) == 3 * 2 * 5
        assert rows.loc[rows["Embedding_model"] == "onehot", "R2_score_test"].tolist() == frame.loc[
            frame["Embedding_model"] == "onehot", "R2_score_test"].tolist()
        means = rows.groupby("Embedding_model")["R2_score_test"].mean()
        fit = contrasts.set_index("contrast")["estimate"]
        assert fit["esm2_8M - onehot"] == pytest.approx(means["esm2_8M"] - means["onehot"], abs=1e-6)
    assert not (tmp_path / "stats" / "contrasts_Embedding_model_flat.csv").exists()
    assert (tmp_path / "figures" / "model_size_mean.png").is_file()
    assert set(stats.method_rows(frame[frame["Embedding_model"] != "onehot"], "mean")["Compression_method"]) == {"mean"}
