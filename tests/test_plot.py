"""Tests of plmtransfer.plots and the scripts: every figure is written with the expected axes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plmtransfer import plots, stats
from tests.test_stats import simulate, write_tree

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def captured(monkeypatch):
    """Record every figure saved (title, axis labels, x scale) before it is closed."""
    records = []
    original = plots.save_figure

    def recording(figure, stem):
        axes = [a for a in figure.axes if a.get_visible() and a.get_label() != "<colorbar>"]
        records.append({
            "suptitle": figure._suptitle.get_text() if figure._suptitle else "",
            "titles": [a.get_title() for a in axes],
            "xlabels": [a.get_xlabel() for a in axes] + [
                figure._supxlabel.get_text() if figure._supxlabel else ""],
            "ylabels": [a.get_ylabel() for a in axes] + [
                figure._supylabel.get_text() if figure._supylabel else ""],
            "xscales": [a.get_xscale() for a in axes],
        })
        return original(figure, stem)

    monkeypatch.setattr(plots, "save_figure", recording)
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
    assert_written(plots.forest_plot(table, tmp_path / "forest"))
    record = captured[0]
    assert "each compression method − mean" in record["titles"][0]
    assert "single-step" in record["titles"][0]
    assert record["xlabels"][0] == "difference in test R² (unitless) vs mean"


def test_model_size_plot(tmp_path, captured):
    assert_written(plots.model_size_plot(per_fold_frame(), tmp_path / "size", method="mean"))
    record = captured[0]
    assert record["titles"] == ["esm2"] and record["xscales"] == ["log"]
    assert record["xlabels"][0] == "model parameters (count, log scale)"
    assert "against model size" in record["suptitle"]


def test_datasize_and_heatmap(tmp_path, captured):
    frame = per_fold_frame()
    assert_written(plots.datasize_plot(frame, tmp_path / "datasize", method="mean"))
    assert captured[0]["xscales"] == ["log"]
    assert captured[0]["xlabels"][0] == "data-set size (rows, log scale)"
    assert_written(plots.heatmap_plot(frame[frame["Embedding_model"] == "esm2_8M"],
                                      tmp_path / "heatmap"))
    assert captured[1]["ylabels"][0] == "data set"
    assert "per data set and compression method" in captured[1]["titles"][0]


def test_learning_curves_flag_random_models(tmp_path, captured):
    frame = per_fold_frame()
    frame = frame[frame["Compression_method"] == "mean"]
    curves = pd.concat([frame.assign(Sample_size=n, R2_score_test=frame["R2_score_test"]
                                     - 0.1 * np.log10(1000 / n)) for n in (50, 200)])
    curves["Embedding_model"] = curves["Embedding_model"].replace("esm2_8M", "esm2_t2_tiny_random")
    assert_written(plots.learning_curve_plot(curves, tmp_path / "curves"))
    record = captured[0]
    assert len(record["titles"]) == 3 and set(record["xscales"]) == {"log"}
    assert "training sample size (sequences, log scale)" in record["xlabels"]
    assert plots.model_label("esm2_t2_tiny_random") == "esm2_t2_tiny_random [random weights]"


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
    assert "RANDOM weights" in done.stderr and "skipped figure learning_curves" in done.stderr
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
