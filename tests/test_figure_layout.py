"""Every figure type reads on its own: no two text elements overlap, all text lies inside.

Each figure is drawn on the study's worst cases: its 40 DMS assays (the longest real names,
``MTH3_HAEAESTABILIZED_Tawfik2015``), every compression method plus UniRep's four summaries,
every model of the registry plus a random-weights test model, mean R² down to -4 and missing
results; and on a single level. The text is recorded as matplotlib's renderer draws it
(``Text.draw`` after ``fig.canvas.draw()``), so exactly what a reader sees is compared: titles,
tick labels, axis labels, legends, colour bars and annotations, as their window boxes. The same
record checks that no number reads as a negative zero and that no title line is a lone word; the
heat maps of one report share their colour scale and data-set order, and forest plots name what
they compare.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.text
import numpy as np
import pandas as pd
import pytest

from plmtransfer.analysis import figure_layout, figures, maps, stats
from plmtransfer.data.datasets import study_dms_assays
from plmtransfer.embed.methods import METHODS
from plmtransfer.learn.regress import sample_sizes
from plmtransfer.registry import MODELS

LAYOUT_DPI = 72  # so that pixels are points
TOLERANCE_PX = 0.5
WORD_GAP_PX = 4.0  # texts on one line (tick labels) closer than about two spaces read as one
# UniRep's own summaries (mean hidden state, final hidden and cell state, their fusion).
UNIREP_METHODS = ("h_avg", "h_final", "c_final", "fusion")
ALL_METHODS = (*METHODS, *UNIREP_METHODS)
RANDOM_MODEL = "esm2_t2_tiny_random"
ALL_MODELS = (*(spec.name for spec in MODELS), RANDOM_MODEL)


STUDY_ASSAYS = study_dms_assays()  # the study's 40 assay names, the figures' realistic labels

def per_fold(assays=STUDY_ASSAYS, models=ALL_MODELS, methods=ALL_METHODS, folds=5, seed=0,
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


def learning_curves(assays=STUDY_ASSAYS, models=ALL_MODELS, seed=0):
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


NEGATIVE_ZERO = re.compile(r"(?<![\w.])[-\N{MINUS SIGN}]0(\.0+)?(?![\d.])")


def lone_word_lines(title: str) -> list[str]:
    """Lines of a title that hold one word while the title has several lines; the pieces of one
    long name broken after ``_`` (``MTH3_`` / ``HAEAESTABILIZED_Tawfik2015``) are not words."""
    lines = [line.strip() for line in title.split("\n") if line.strip()]
    return [line for previous, line in zip(["", *lines], lines, strict=False)
            if len(lines) > 1 and len(line.split()) == 1 and not previous.endswith("_") and not line.endswith("_")]


@pytest.fixture
def checked(monkeypatch):
    """Instead of writing, draw each saved figure at low dpi and record its text layout problems.

    Only the file writing is replaced: :func:`figure_layout.save_figure` itself runs, as it does for
    a user. Each page is recorded as (name, problems, drawn texts, suptitle, colour limits, heat-map rows).
    """
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
        images = [axis for axis in figure.axes if axis.images]
        pages.append((Path(stem).name, layout_problems(figure, drawn), [text for text, _ in drawn.values()],
                      figure._suptitle.get_text() if figure._suptitle else "",
                      [axis.images[0].get_clim() for axis in images],
                      [[label.get_text() for label in axis.get_yticklabels()] for axis in images]))
        plt.close(figure)
        return [Path(stem)]

    pages: list = []
    monkeypatch.setattr(matplotlib.text.Text, "draw", recording_draw)
    monkeypatch.setattr(figure_layout, "write_figure", check)
    return pages


def assert_legible(pages, expected_pages, titles=True):
    """Every page drawn, none with overlapping text or text outside the figure, a negative zero
    or (``titles``: a results figure, whose title is a sentence) a title line of one word."""
    assert [name for name, *_ in pages] == expected_pages
    problems = [f"{name}: {problem}" for name, found, *_ in pages for problem in found]
    problems += [f"{name}: negative zero in {text!r}" for name, _, texts, *_ in pages for text in texts
                 if NEGATIVE_ZERO.search(text)]
    problems += [f"{name}: lone word {line!r} in the title" for name, _, _, title, *_ in pages
                 for line in lone_word_lines(title) if titles]
    assert not problems, "\n".join(problems[:20])


def test_learning_curves_full_page_of_16_models(checked, tmp_path):
    longest = sorted(study_dms_assays(), key=len)[-figures.MAX_PANELS:]
    figures.learning_curve_plot(learning_curves(longest), tmp_path / "curves", method="mean")
    assert_legible(checked, ["curves"])


def test_learning_curves_of_40_assays_go_onto_4_pages(checked, tmp_path):
    written = figures.learning_curve_plot(learning_curves(models=(RANDOM_MODEL,)), tmp_path / "curves")
    assert written == [tmp_path / f"curves_page{page}" for page in (1, 2, 3, 4)]
    assert_legible(checked, [f"curves_page{page}" for page in (1, 2, 3, 4)])


def test_learning_curves_single_assay_single_model(checked, tmp_path):
    frame = learning_curves(("MTH3_HAEAESTABILIZED_Tawfik2015",), (RANDOM_MODEL,))
    figures.learning_curve_plot(frame, tmp_path / "curve")
    assert_legible(checked, ["curve"])


@pytest.mark.parametrize("levels, factor, reference", [
    (ALL_METHODS[1:], "Compression_method", "mean"),
    (ALL_MODELS[:-1], "Embedding_model", RANDOM_MODEL),
    (("bos",), "Compression_method", "mean"),
], ids=["methods", "models", "single"])
def test_forest(checked, tmp_path, levels, factor, reference):
    figures.forest_plot(contrasts(list(levels), factor, reference), tmp_path / "forest")
    assert_legible(checked, ["forest"])


@pytest.mark.parametrize("models", [ALL_MODELS, ("esm2_t6_8M_UR50D",)], ids=["all", "single"])
def test_model_size(checked, tmp_path, models):
    figures.model_size_plot(per_fold(models=models, methods=("mean",)), tmp_path / "size")
    assert_legible(checked, ["size"])


@pytest.mark.parametrize("models", [ALL_MODELS, (RANDOM_MODEL,)], ids=["all", "single"])
def test_datasize(checked, tmp_path, models):
    figures.datasize_plot(per_fold(models=models, methods=("mean",)), tmp_path / "datasize")
    assert_legible(checked, ["datasize"])


@pytest.mark.parametrize("assays, models, methods, columns, page_names", [
    (study_dms_assays(), ("esm2_t30_150M_UR50D",), ALL_METHODS, "Compression_method",
     ["heatmap_page1", "heatmap_page2"]),
    (study_dms_assays(), ALL_MODELS, ("mean",), "Embedding_model", ["heatmap"]),
    (study_dms_assays()[:6], ("esm2_t30_150M_UR50D",), ALL_METHODS[:4], "Compression_method", ["heatmap"]),
    (("MTH3_HAEAESTABILIZED_Tawfik2015",), (RANDOM_MODEL,), ("mean",), "Embedding_model", ["heatmap"]),
], ids=["methods", "models", "values-printed", "single"])
def test_heatmap(checked, tmp_path, assays, models, methods, columns, page_names):
    """Every column on exactly one page: more columns than a page holds apart (every registered method)
    go onto pages of near-equal width."""
    frame = per_fold(assays, models, methods, missing=0.05)
    figures.heatmap_plot(frame, tmp_path / "heatmap", columns, title_context="model: esm2_t30_150M_UR50D")
    assert_legible(checked, page_names)
    if columns == "Compression_method":
        for method in methods:
            assert sum(method in page[2] for page in checked) == 1, method
        if len(page_names) > 1:
            counts = [sum(text in methods for text in page[2]) for page in checked]
            assert max(counts) - min(counts) <= 1


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
             for head in range(maps.MAX_HEAD_PANELS)}
    return contacts, structure, truth, heads


@pytest.mark.parametrize("length, tracks", [(1022, True), (30, True), (64, False)],
                         ids=["longest-all-tracks", "short-all-tracks", "map-only"])
def test_contact_map(checked, tmp_path, length, tracks):
    contacts, structure, truth, heads = contact_inputs(length)
    protein = "MTH3_HAEAESTABILIZED_Tawfik2015_A20V:G45D"
    model = max(ALL_MODELS, key=len)
    if tracks:
        maps.contact_map_plot(contacts, tmp_path / "contacts", protein, model, heads, structure, truth,
                               "distance < 8 Å")
        assert_legible(checked, ["contacts", "contacts_attention"], titles=False)  # the model on a line of its own
    else:
        maps.contact_map_plot(contacts, tmp_path / "contacts", protein, RANDOM_MODEL)
        assert_legible(checked, ["contacts"], titles=False)


def test_the_checks_catch_negative_zeros_and_lone_words():
    assert all(NEGATIVE_ZERO.search(text) for text in ("−0.00", "-0.0", "-0", "cells below -0.00 take"))
    assert not any(NEGATIVE_ZERO.search(text) for text in ("-0.01", "0.00", "−0.5", "10", "esm2_t6-0"))
    assert lone_word_lines("Mean test R² against\nsize") == ["size"] and lone_word_lines("one line") == []


def test_titles_wrap_into_even_lines_without_a_lone_word():
    """Where filling lines greedily leaves the last word alone, the title is wrapped into as many
    lines of even length instead."""
    figure_layout.apply_style()
    title = ("Mean test R² against data-set size (mean compression); lines: OLS on log10(size), drawn for at "
             "least 5 data sets spanning at least 0.5 decade")
    size = figure_layout.font_size("figure.titlesize")
    pieces = list(filter(None, re.split(r"(?<=[ _])", title)))
    widths = [width / 20 for width in range(30, 140)]
    greedy_lone = [width for width in widths
                   if lone_word_lines("\n".join(figure_layout._greedy_lines(pieces, width * 72, size)))]
    assert greedy_lone  # the greedy fill does leave lone words at some widths
    for width in greedy_lone:
        wrapped = figure_layout.wrap_label(title, width, size)
        assert not lone_word_lines(wrapped), wrapped
        assert wrapped.count("\n") == len(figure_layout._greedy_lines(pieces, width * 72, size)) - 1
        assert max(figure_layout.text_width_pt(line, size) for line in wrapped.split("\n")) <= width * 72


def model_contrasts(method: str, levels=("esm2_t6_8M_UR50D", "esm2_t30_150M_UR50D")) -> pd.DataFrame:
    """The model contrasts of one compression method against the baseline, as the report writes them."""
    return contrasts(list(levels), "Embedding_model", "onehot").assign(within=method, reference_method="flat")


def test_forest_titles_name_model_method_and_baseline(checked, tmp_path):
    figures.forest_plot(model_contrasts("mean"), tmp_path / "forest_Embedding_model_mean")
    figures.forest_plot(model_contrasts("bos", ["unirep_256"]), tmp_path / "forest_Embedding_model_bos")
    methods = contrasts(["bos", "maxPool"], "Compression_method", "mean").assign(within="esm2_t30_150M_UR50D")
    figures.forest_plot(methods, tmp_path / "forest_Compression_method_esm2_t30_150M_UR50D")
    assert_legible(checked, ["forest_Embedding_model_mean", "forest_Embedding_model_bos",
                             "forest_Compression_method_esm2_t30_150M_UR50D"])
    titles = [" ".join(title.split()) for _, _, _, title, *_ in checked]
    assert titles[0].startswith("test R² with mean compression: each model − one-hot flat (baseline)")
    assert titles[1].startswith("test R² with bos compression: each model − one-hot flat (baseline)")
    assert titles[2].startswith("test R² of esm2_t30_150M_UR50D: each compression method − mean")
    assert any("vs one-hot flat (baseline)" in text for text in checked[0][2])


def report_frame(assays=STUDY_ASSAYS[:8]) -> pd.DataFrame:
    """Per-fold results of a report: two ESM-2 models with three methods, one-hot with its study
    baseline ``flat`` and ``mean``."""
    frame = per_fold(assays, ("esm2_t6_8M_UR50D", "esm2_t30_150M_UR50D", "onehot"), ("mean", "maxPool", "flat"),
                     missing=0.0)
    onehot, method = frame["Embedding_model"] == "onehot", frame["Compression_method"]
    return frame[~((onehot & (method == "maxPool")) | (~onehot & (method == "flat")))]


def test_heat_maps_of_one_report_share_colour_scale_and_data_set_order(checked, tmp_path):
    paths, notes = figures.all_figures(report_frame(), tmp_path)
    heatmaps = [page for page in checked if page[0].startswith("heatmap")]
    assert [page[0] for page in heatmaps] == ["heatmap_methods_esm2_t30_150M_UR50D", "heatmap_methods_esm2_t6_8M_UR50D",
                                              "heatmap_methods_onehot", "heatmap_models_mean"]
    assert_legible(heatmaps, [page[0] for page in heatmaps])
    limits = {tuple(np.round(clims[0], 9)) for *_, clims, _ in heatmaps}
    assert len(limits) == 1
    orders = [[label.split(f" ({figure_layout.BELOW}")[0] for label in rows[0]] for *_, rows in heatmaps]
    assert all(order == orders[0] for order in orders) and len(orders[0]) == 8
    assert any("one-hot flat (baseline)" in text for text in heatmaps[-1][2])
    sizes = [page for page in checked if page[0] in ("model_size_mean", "datasize_mean")]
    assert all(any("one-hot flat (baseline)" in text for text in page[2]) for page in sizes)
    assert notes == ["no figure learning_curves: learning curves were not asked for (no --sampling-dir)",
                     "no figure layers: the results hold one layer per model"]
    assert isinstance(notes[0], figures.Fact)


def narrow_sizes(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with data-set sizes within 0.1 decade (1,435 to 1,801 rows, as the demo's assays)."""
    assays = sorted(frame["Dataset"].unique())
    sizes = dict(zip(assays, np.linspace(1435, 1801, len(assays)).round(), strict=True))
    return frame.assign(dataset_size=frame["Dataset"].map(sizes))


@pytest.mark.parametrize("assays", [study_dms_assays()[:3], study_dms_assays()[:12]], ids=["3-assays", "12-assays"])
def test_datasize_without_support_for_a_line_labels_the_assays_and_says_why(checked, tmp_path, assays):
    frame = narrow_sizes(per_fold(assays, ALL_MODELS, ("mean",)))
    figures.datasize_plot(frame, tmp_path / "datasize")
    assert_legible(checked, ["datasize"])
    texts = " ".join(checked[0][2])
    assert "no line against size" in " ".join(checked[0][3].split()) and "a line needs at least 5" in texts.replace(
        "\n", " ")
    assert all(assay.split("_")[0] in texts for assay in assays)  # every assay labelled (names wrap at _)
    assert "n=" not in texts  # no slope in the legend


def test_datasize_with_support_for_a_line_fits_and_gives_slopes(checked, tmp_path):
    figures.datasize_plot(per_fold(study_dms_assays()[:8], ("esm2_t6_8M_UR50D", "onehot"), ("mean",)),
                          tmp_path / "datasize")
    assert_legible(checked, ["datasize"])
    assert sum("n=8)" in text for text in checked[0][2]) == 2 and "no line" not in " ".join(checked[0][2])
