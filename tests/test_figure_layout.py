"""Every figure type reads on its own: no two text elements overlap, all text lies inside.

Each figure is drawn on the study's worst cases: its 40 DMS assays (the longest real names,
``MTH3_HAEAESTABILIZED_Tawfik2015``), every compression method plus UniRep's four summaries,
every model of the registry plus a random-weights test model, mean R² down to -4 and missing
results; and on a single level. The text is recorded as matplotlib's renderer draws it
(``Text.draw`` after ``fig.canvas.draw()``), so exactly what a reader sees is compared: titles,
tick labels, axis labels, legends, colour bars and annotations, as their window boxes.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np
import pandas as pd
import pytest

from plmtransfer import plots, stats
from plmtransfer.compress import METHODS
from plmtransfer.datasets import STUDY_DMS_ASSAYS
from plmtransfer.registry import MODELS
from plmtransfer.regress import sample_sizes

LAYOUT_DPI = 72  # so that pixels are points
TOLERANCE_PX = 0.5
WORD_GAP_PX = 4.0  # texts on one line (tick labels) closer than about two spaces read as one
# UniRep's own summaries (mean hidden state, final hidden and cell state, their fusion).
UNIREP_METHODS = ("h_avg", "h_final", "c_final", "fusion")
ALL_METHODS = (*METHODS, *UNIREP_METHODS)
RANDOM_MODEL = "esm2_t2_tiny_random"
ALL_MODELS = (*(spec.name for spec in MODELS), RANDOM_MODEL)


def per_fold(assays=STUDY_DMS_ASSAYS, models=ALL_MODELS, methods=ALL_METHODS, folds=5, seed=0,
             missing=0.02):
    """Tidy per-fold results with realistic spreads: hard assays (R² to -4), some results missing."""
    rng = np.random.default_rng(seed)
    assay_effect = dict(zip(assays, rng.uniform(-0.4, 0.7, len(assays)), strict=True))
    for hard in assays[1::13]:
        assay_effect[hard] = -rng.uniform(2, 4)
    sizes = dict(zip(assays, rng.integers(360, 9200, len(assays)), strict=True))
    rows = pd.DataFrame(list(itertools.product(assays, models, methods, range(folds))),
                        columns=["Dataset", "Embedding_model", "Compression_method", "Fold"])
    model_effect = {m: 0.03 * np.log10(stats.model_info(m).parameters + 1)
                    if np.isfinite(stats.model_info(m).parameters) else 0.0 for m in models}
    method_effect = dict(zip(methods, rng.normal(0, 0.05, len(methods)), strict=True))
    rows["R2_score_test"] = (rows["Dataset"].map(assay_effect) + rows["Embedding_model"].map(model_effect)
                             + rows["Compression_method"].map(method_effect)
                             + rng.normal(0, 0.05, len(rows)))
    rows["R2_score_test"] = rows["R2_score_test"].clip(upper=0.98)
    rows.loc[rng.random(len(rows)) < missing, "R2_score_test"] = np.nan
    rows = rows.drop(index=rows.index[rng.random(len(rows)) < missing])
    rows["dataset_size"] = rows["Dataset"].map(sizes)
    return stats.normalise_results(rows, "fixture")


def learning_curves(assays=STUDY_DMS_ASSAYS, models=ALL_MODELS, seed=0):
    """Per-fold learning curves at the study's training sizes (32 up to the data-set size).

    Mean R² is about -3 at 32 sequences and -0.2..0.7 from 320 on, as on real assays.
    """
    rng = np.random.default_rng(seed)
    frame = per_fold(assays, models, ("mean",), seed=seed, missing=0.0)
    frame["R2_score_test"] = frame["R2_score_test"].clip(lower=-0.2)
    parts = []
    for rows in (group for _, group in frame.groupby("Dataset")):
        for size in sample_sizes(rows["dataset_size"].iloc[0]):
            noise = rng.normal(0, 16 / size + 0.03, len(rows))
            parts.append(rows.assign(Sample_size=size, R2_score_test=rows["R2_score_test"]
                                     - 3 * (32 / size) ** 2 + noise))
    return pd.concat(parts, ignore_index=True)


def contrasts(levels, factor, reference):
    """A contrast table as ``stats.fit_contrasts`` writes it; one level without CI, one without estimate."""
    rng = np.random.default_rng(1)
    estimate = rng.uniform(-0.6, 0.1, len(levels))
    half = rng.uniform(0.01, 0.08, len(levels))
    p_adjusted = rng.choice([1e-4, 0.004, 0.03, 0.07, 0.6], len(levels))
    table = pd.DataFrame({"level": levels, "estimate": estimate, "ci_low": estimate - half,
                          "ci_high": estimate + half, "p_adjusted": p_adjusted,
                          "stars": [stats.significance_stars(p) for p in p_adjusted]})
    if len(levels) > 2:
        table.loc[0, ["ci_low", "ci_high"]] = np.nan
        table.loc[1, "estimate"] = np.nan
    return table.assign(reference=reference, factor=factor, response="R2_score_test",
                        ci_level=0.95, adjust="single-step")


def layout_problems(figure, drawn: dict) -> list[str]:
    """Pairs of drawn text boxes that overlap or nearly touch, and texts outside the figure.

    Texts on one line (same top and bottom, as the tick labels of an axis) also need
    ``WORD_GAP_PX`` between them: "100 200" with a bare space between reads as one number.
    """
    texts = list(drawn.values())
    boxes = np.array([[box.x0, box.y0, box.x1, box.y1] for _, box in texts])
    width, height = figure.bbox.width, figure.bbox.height
    problems = [f"outside the figure: {text!r}" for (text, box) in texts
                if box.x0 < -TOLERANCE_PX or box.y0 < -TOLERANCE_PX
                or box.x1 > width + TOLERANCE_PX or box.y1 > height + TOLERANCE_PX]
    across = np.minimum(boxes[:, None, 2], boxes[None, :, 2]) - np.maximum(boxes[:, None, 0],
                                                                           boxes[None, :, 0])
    up = np.minimum(boxes[:, None, 3], boxes[None, :, 3]) - np.maximum(boxes[:, None, 1],
                                                                       boxes[None, :, 1])
    one_line = ((np.abs(boxes[:, None, 1] - boxes[None, :, 1]) < 1)
                & (np.abs(boxes[:, None, 3] - boxes[None, :, 3]) < 1))
    overlapping = (across > TOLERANCE_PX) & (up > TOLERANCE_PX)
    first, second = np.nonzero(np.triu(overlapping | (one_line & (across > -WORD_GAP_PX)), k=1))
    problems += [f"overlap or too close: {texts[i][0]!r} and {texts[j][0]!r}"
                 for i, j in zip(first, second, strict=True)]
    return problems


@pytest.fixture
def checked(monkeypatch):
    """Instead of saving, draw each figure at low dpi and record its text layout problems."""
    drawn: dict = {}
    original = matplotlib.text.Text.draw

    def recording_draw(self, renderer):
        original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            drawn[id(self)] = (self.get_text(), self.get_window_extent(renderer))

    def check(figure, stem):
        figure.set_dpi(LAYOUT_DPI)
        drawn.clear()
        figure.canvas.draw()
        assert drawn, "nothing was drawn"
        pages.append((Path(stem).name, layout_problems(figure, drawn)))
        plt.close(figure)
        return [Path(stem)]

    pages: list = []
    monkeypatch.setattr(matplotlib.text.Text, "draw", recording_draw)
    monkeypatch.setattr(plots, "save_figure", check)
    return pages


def assert_legible(pages, expected_pages):
    """Every page drawn, none with overlapping text or text outside the figure."""
    assert [name for name, _ in pages] == expected_pages
    problems = [f"{name}: {problem}" for name, found in pages for problem in found]
    assert not problems, "\n".join(problems[:20])


def test_learning_curves_full_page_of_16_models(checked, tmp_path):
    longest = sorted(STUDY_DMS_ASSAYS, key=len)[-plots.MAX_PANELS:]
    plots.learning_curve_plot(learning_curves(longest), tmp_path / "curves", method="mean")
    assert_legible(checked, ["curves"])


def test_learning_curves_of_40_assays_go_onto_4_pages(checked, tmp_path):
    written = plots.learning_curve_plot(learning_curves(models=(RANDOM_MODEL,)), tmp_path / "curves")
    assert written == [tmp_path / f"curves_page{page}" for page in (1, 2, 3, 4)]
    assert_legible(checked, [f"curves_page{page}" for page in (1, 2, 3, 4)])


def test_learning_curves_single_assay_single_model(checked, tmp_path):
    frame = learning_curves(("MTH3_HAEAESTABILIZED_Tawfik2015",), (RANDOM_MODEL,))
    plots.learning_curve_plot(frame, tmp_path / "curve")
    assert_legible(checked, ["curve"])


@pytest.mark.parametrize("levels, factor, reference", [
    (ALL_METHODS[1:], "Compression_method", "mean"),
    (ALL_MODELS[:-1], "Embedding_model", RANDOM_MODEL),
    (("bos",), "Compression_method", "mean"),
], ids=["methods", "models", "single"])
def test_forest(checked, tmp_path, levels, factor, reference):
    plots.forest_plot(contrasts(list(levels), factor, reference), tmp_path / "forest")
    assert_legible(checked, ["forest"])


@pytest.mark.parametrize("models", [ALL_MODELS, ("esm2_t6_8M_UR50D",)], ids=["all", "single"])
def test_model_size(checked, tmp_path, models):
    plots.model_size_plot(per_fold(models=models, methods=("mean",)), tmp_path / "size")
    assert_legible(checked, ["size"])


@pytest.mark.parametrize("models", [ALL_MODELS, (RANDOM_MODEL,)], ids=["all", "single"])
def test_datasize(checked, tmp_path, models):
    plots.datasize_plot(per_fold(models=models, methods=("mean",)), tmp_path / "datasize")
    assert_legible(checked, ["datasize"])


@pytest.mark.parametrize("assays, models, methods, columns", [
    (STUDY_DMS_ASSAYS, ("esm2_t30_150M_UR50D",), ALL_METHODS, "Compression_method"),
    (STUDY_DMS_ASSAYS, ALL_MODELS, ("mean",), "Embedding_model"),
    (STUDY_DMS_ASSAYS[:6], ("esm2_t30_150M_UR50D",), ALL_METHODS[:4], "Compression_method"),
    (("MTH3_HAEAESTABILIZED_Tawfik2015",), (RANDOM_MODEL,), ("mean",), "Embedding_model"),
], ids=["methods", "models", "values-printed", "single"])
def test_heatmap(checked, tmp_path, assays, models, methods, columns):
    frame = per_fold(assays, models, methods, missing=0.05)
    plots.heatmap_plot(frame, tmp_path / "heatmap", columns, title_context="(esm2_t30_150M_UR50D)")
    assert_legible(checked, ["heatmap"])


def contact_inputs(length: int, seed: int = 0):
    """A symmetric contact map with helices' and strands' patterns, a secondary structure, true
    contacts and the 16 attention heads one figure can hold."""
    rng = np.random.default_rng(seed)
    distance = np.abs(np.subtract.outer(np.arange(length), np.arange(length)))
    contacts = np.clip(np.exp(-distance / 4) + rng.uniform(0, 0.3, (length, length)), 0, 1)
    contacts = (contacts + contacts.T) / 2
    runs = rng.choice(list("HEC"), size=length // 5 + 1)
    structure = "".join(letter * 5 for letter in runs)[:length]
    truth = contacts > 0.6
    heads = {f"layer 33, head {head}": rng.dirichlet(np.ones(length), size=length)
             for head in range(plots.MAX_HEAD_PANELS)}
    return contacts, structure, truth, heads


@pytest.mark.parametrize("length, tracks", [(1022, True), (30, True), (64, False)],
                         ids=["longest-all-tracks", "short-all-tracks", "map-only"])
def test_contact_map(checked, tmp_path, length, tracks):
    contacts, structure, truth, heads = contact_inputs(length)
    protein = "MTH3_HAEAESTABILIZED_Tawfik2015_A20V:G45D"
    model = max(ALL_MODELS, key=len)
    if tracks:
        plots.contact_map_plot(contacts, tmp_path / "contacts", protein, model, heads, structure, truth,
                               "distance < 8 Å")
        assert_legible(checked, ["contacts", "contacts_attention"])
    else:
        plots.contact_map_plot(contacts, tmp_path / "contacts", protein, RANDOM_MODEL)
        assert_legible(checked, ["contacts"])
