"""The results figures, from the tidy per-fold results and the statistics tables, and their registry.

:data:`FIGURES` names every results figure (the ``scripts/plot.py`` subcommand that draws it
alone): its drawing function, the data it needs, its file name and a one-line description.
:func:`all_figures` (``scripts/plot.py all``, the statistics report) draws every registered figure
whose inputs exist; ``docs/figures.md`` describes each (a test checks it). The layout rules every
figure follows are :mod:`plmtransfer.analysis.figure_layout`'s; in particular:

- an R² axis or colour scale covers the informative part: its lower end is the smaller of
  ``R2_FLOOR`` (-0.5) and the lowest value a reader compares (the means at training size >=
  ``FOCUS_SIZE`` in a learning curve, the means over data sets in the model-size figure, the
  points or cells above Tukey's lower fence otherwise: :func:`typical`), never below the
  lowest value drawn; values below it are drawn as ▼ on the lower edge and counted, with the
  lowest, under the panel (in a heat map: the end colour, an arrow on the colour bar and the
  row's lowest value after its label);
- more than ``MAX_PANELS`` learning-curve panels or ``MAX_HEATMAP_ROWS`` heat-map rows go
  onto further pages, ``<stem>_page1``, ``<stem>_page2``, ..., all returned;
- models are compared with one baseline, the study's one-hot definition (``flat`` on DMS:
  :func:`plmtransfer.analysis.stats.results_baseline`), named ``one-hot flat (baseline)`` in every
  title, legend and label that uses it;
- the heat maps of one :func:`all_figures` call share one colour scale and one data-set order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from plmtransfer.analysis.figure_layout import (
    BELOW,
    OKABE_ITO,
    PAGE_WIDTH_IN,
    apply_style,
    below_note,
    bottom_legend,
    finite,
    font_size,
    grid,
    grid_width,
    human_count,
    informative_range,
    legend_columns,
    legend_height_in,
    line_style,
    log_count_axis,
    mark_below,
    metric_label,
    model_label,
    page_note,
    page_stem,
    pages,
    panel_width_in,
    plain_number,
    save_figure,
    short_metric,
    text_width_pt,
    typical,
    wrap_label,
)
from plmtransfer.analysis.layers import DEPTH, SECOND_RESPONSE, has_layer_sweep, last_layer_rows, layer_curves
from plmtransfer.analysis.stats import (
    LAYER,
    MIN_FIT_DATASETS,
    MIN_FIT_DECADES,
    baseline_name,
    dataset_means,
    datasize_fit_reason,
    datasize_fits,
    mean_ci,
    method_rows,
    results_baseline,
)
from plmtransfer.errors import UserError
from plmtransfer.registry import BASELINE

FOCUS_SIZE = 100
MAX_PANELS = 12
MAX_HEATMAP_ROWS = 45
MIN_HEATMAP_COLUMN_IN = 0.15
"""Narrowest heat-map column (inches): its rotated label and its neighbours' stay apart."""
HEATMAP_FRAME_IN = 1.6
"""Width of a heat map's frame beside its row labels and cells (inches): axis label and colour bar."""


# --------------------------------------------------------------------------- (a) forest plot


def forest_plot(contrasts: pd.DataFrame, stem: str | Path, title: str | None = None) -> list[Path]:
    """Contrasts vs the reference with their intervals and stars, ordered by estimate.

    A contrast without an interval (degenerate fit) is a point without bars; one without an
    estimate is listed with ``no estimate`` at 0.
    """
    if contrasts.empty:
        raise UserError("no contrasts to plot")
    apply_style()
    table = contrasts.sort_values("estimate", kind="stable").reset_index(drop=True)
    first = table.iloc[0]
    labels = [model_label(str(level)) for level in table["level"]]
    label_width = max(text_width_pt(label, font_size("ytick.labelsize")) for label in labels) / 72
    width = min(PAGE_WIDTH_IN, max(PAGE_WIDTH_IN * 0.65, label_width + 3.2))
    axis_width = width - label_width - 0.8
    reference = reference_name(first)
    factor = str(first["factor"]).replace("_", " ").lower()
    title = wrap_label(title or forest_title(first), width - 0.3, font_size("figure.titlesize"))
    # the axis is at least as tall as its label (``compression method``), whatever the number of rows
    axis_height = max(0.2 * len(table) + 0.2, text_width_pt(factor, font_size("axes.labelsize")) / 72 + 0.15)
    height = 1.3 + axis_height + 0.17 * title.count("\n")
    figure, axis = plt.subplots(figsize=(width, height), constrained_layout=True)
    y = np.arange(len(table))
    estimate = table["estimate"].to_numpy(dtype=float)
    low = np.nan_to_num(estimate - table["ci_low"].to_numpy(dtype=float), nan=0.0)
    high = np.nan_to_num(table["ci_high"].to_numpy(dtype=float) - estimate, nan=0.0)
    significant = (table["p_adjusted"] < 0.05).to_numpy()
    for flag, marker_colour in ((True, OKABE_ITO[3]), (False, OKABE_ITO[0])):
        rows = significant == flag
        if not rows.any():
            continue
        axis.errorbar(estimate[rows], y[rows], xerr=[low[rows], high[rows]], fmt="o",
                      color=marker_colour, ecolor=marker_colour, capsize=2, markersize=4,
                      label="adjusted p < 0.05" if flag else "adjusted p ≥ 0.05")
    axis.axvline(0, color="0.4", linewidth=0.8, linestyle="--")
    right = np.where(np.isfinite(estimate), estimate + high, 0.0)
    left = np.where(np.isfinite(estimate), estimate - low, 0.0)
    span = max(right.max(), 0) - min(left.min(), 0) or 1.0
    for row_y, row_right, value, stars in zip(y, right, estimate, table["stars"].fillna(""),
                                              strict=True):
        text = stars if np.isfinite(value) else "no estimate"
        axis.text(row_right + 0.02 * span, row_y, text, va="center", fontsize=7)
    axis.set_xlim(min(left.min(), 0) - 0.05 * span, max(right.max(), 0) + 0.2 * span)
    axis.set_yticks(y, labels)
    axis.set_ylim(-0.7, len(table) - 0.3)
    axis.set_xlabel(wrap_label(f"difference in {metric_label(first['response'])} vs {reference}", axis_width,
                               font_size("axes.labelsize")))
    axis.set_ylabel(factor)
    figure.suptitle(title)
    handles, names = axis.get_legend_handles_labels()
    bottom_legend(figure, handles, names,
                  title="adjusted p: *** < 0.001, ** < 0.01, * < 0.05, . < 0.1")
    return save_figure(figure, stem)


def reference_name(contrast: pd.Series) -> str:
    """The reference of a contrast table as figures name it: ``one-hot flat (baseline)`` for the
    baseline model (its method from the table's ``reference_method``), else the level's label."""
    reference = str(contrast["reference"])
    method = contrast.get("reference_method")
    if contrast["factor"] == "Embedding_model" and reference == BASELINE and isinstance(method, str):
        return baseline_name(method)
    return model_label(reference) if contrast["factor"] == "Embedding_model" else reference


def forest_title(contrast: pd.Series) -> str:
    """A forest plot's title: the metric, the model or compression held fixed (the table's
    ``within``), what is compared with which reference, the model and its intervals."""
    within = contrast.get("within")
    held = ""
    if isinstance(within, str) and contrast["factor"] == "Embedding_model":
        held = f" with {within} compression"
    elif isinstance(within, str) and contrast["factor"] == "Compression_method":
        held = f" of {model_label(within)}"
    levels = {"Embedding_model": "model", "Compression_method": "compression method"}.get(
        contrast["factor"], str(contrast["factor"]).replace("_", " ").lower())
    ci = f"{contrast['ci_level']:.0%} {'simultaneous ' if contrast['adjust'] != 'none' else ''}CI"
    return (f"{short_metric(contrast['response'])}{held}: each {levels} − {reference_name(contrast)}\n"
            f"mixed model, {contrast['adjust']} adjustment, {ci}")


# --------------------------------------------------------------------------- (b) model size


def _size_summary(rows: pd.DataFrame, response: str) -> np.ndarray:
    """Per parameter count: (parameters, mean over data sets, 95% CI low, CI high)."""
    summary = [(parameters, *np.array(mean_ci(group[response].to_numpy()))[[0, 2, 3]])
               for parameters, group in rows.groupby("Parameters")]
    return np.array(summary, dtype=float).reshape(-1, 4)


def model_size_plot(per_fold: pd.DataFrame, stem: str | Path, response: str = "R2_score_test",
                    method: str | None = None) -> list[Path]:
    """Score per model against parameter count (log axis), one panel per model family.

    Grey points are data sets (mean over folds); black points the mean over data sets with its
    95% t interval. The one-hot baseline (no parameters) is a dashed line in every panel.
    Panels share both axes and run from the family with the smallest model to the largest
    (UniRep's 0.15M before ESM-2's 8M), so a model's place on the x axis is its size.
    """
    apply_style()
    frame = _one_method(per_fold, method)
    means = dataset_means(frame, response, ["Embedding_model"])
    baseline = means[means["Embedding_model"] == BASELINE][response].dropna()
    baseline_method = results_baseline(per_fold)
    sized = means[means["Parameters"].fillna(0) > 0]
    if sized.empty:
        raise UserError("no model with a known parameter count to plot against size")
    panel = sized["Model_family"].astype(str).where(
        ~sized["Random_weights"].astype(bool), sized["Model_family"].astype(str) + " [random weights]")
    order = sized.groupby(panel)["Parameters"].min()
    families = sorted(order.index, key=lambda family: (family.endswith("]"), order[family], family))
    summaries = {family: _size_summary(sized[panel == family], response) for family in families}
    every = np.vstack(list(summaries.values()))
    lower, upper = informative_range(response, every[:, 1], np.concatenate(
        [sized[response], every[:, 1:].ravel(), [baseline.mean()] if len(baseline) else []]))
    x_limits = sized["Parameters"].min() / 2, sized["Parameters"].max() * 2
    labels = ["data set (mean of folds)", "mean over data sets ± 95% CI"] + (
        [f"{baseline_name(baseline_method)}: mean over data sets"] if len(baseline) else [])
    figure, panels, legend_area, axes = grid(
        len(families), panel_height=2.2,
        legend_height=legend_height_in(labels, legend_columns(labels, grid_width(len(families)) - 0.2)))
    title_width = panel_width_in(figure.get_figwidth(), min(len(families), 3))
    for axis, family in zip(axes, families, strict=True):
        rows, summary = sized[panel == family], summaries[family]
        axis.scatter(rows["Parameters"], rows[response], s=9, color="0.6", alpha=0.7,
                     label=labels[0], zorder=2)
        axis.errorbar(summary[:, 0], summary[:, 1],
                      yerr=[summary[:, 1] - np.nan_to_num(summary[:, 2], nan=summary[:, 1]),
                            np.nan_to_num(summary[:, 3], nan=summary[:, 1]) - summary[:, 1]],
                      fmt="o-", color="black", capsize=2, markersize=4,
                      label=labels[1], zorder=3)
        if not baseline.empty:
            axis.axhline(baseline.mean(), color=OKABE_ITO[1], linestyle="--", linewidth=1,
                         label=labels[-1])
        below = np.concatenate([mark_below(axis, rows["Parameters"], rows[response], lower, "0.45"),
                                mark_below(axis, summary[:, 0], summary[:, 1], lower, "black")])
        axis.set_xlim(*x_limits)
        axis.set_ylim(lower, upper)
        log_count_axis(axis)
        axis.set_xlabel(below_note(below), fontsize=7)
        axis.set_title(wrap_label(family, title_width, font_size("axes.titlesize")))
    panels.supxlabel("model parameters (count, log scale)", fontsize=8)
    panels.supylabel(metric_label(response), fontsize=8)
    bottom_legend(legend_area, *axes[0].get_legend_handles_labels())
    dashed = f"\ndashed: {baseline_name(baseline_method)}, mean over data sets" if len(baseline) else ""
    held = f", {method} compression" if method else ""
    figure.suptitle(wrap_label(f"{short_metric(response)} against model size{held}{dashed}",
                               figure.get_figwidth() - 0.3, font_size("figure.titlesize")))
    return save_figure(figure, stem)


# --------------------------------------------------------------------------- (c) learning curves


def learning_curve_plot(sampling: pd.DataFrame, stem: str | Path, response: str = "R2_score_test",
                        method: str | None = None, max_panels: int | None = None) -> list[Path]:
    """Score against training-sample size (log axis): one line per model, one panel per data set.

    Points are the mean over folds, bars one standard deviation over folds. Each panel's y
    range covers its informative part (:func:`_curve_range`); means below it are ▼ on the
    lower edge, counted under the panel. At most ``max_panels`` (default ``MAX_PANELS``)
    panels a page: more data sets go onto further pages (``<stem>_page1``, ...). Returns every
    file written.
    """
    if "Sample_size" not in sampling:
        raise UserError("learning curves need a Sample_size column (results/lassoCV_sampling/...)")
    apply_style()
    frame = _one_method(sampling, method)
    curves = (frame.groupby(["Dataset", "Embedding_model", "Sample_size"])[response]
              .agg(["mean", "std"]).reset_index().dropna(subset=["mean"]))
    if curves.empty:
        raise UserError(f"no finite {response} values to draw learning curves from")
    models = sorted(curves["Embedding_model"].unique())
    chunks = pages(sorted(curves["Dataset"].unique()), max_panels or MAX_PANELS)
    paths = []
    for number, datasets in enumerate(chunks, start=1):
        figure = _learning_curve_page(curves, datasets, models, response)
        figure.suptitle(wrap_label(
            f"Learning curves: {short_metric(response)} against training-set size (mean ± SD "
            f"over folds{f', {method} compression' if method else ''}){page_note(number, len(chunks))}",
            figure.get_figwidth() - 0.3, font_size("figure.titlesize")))
        paths += save_figure(figure, page_stem(stem, number, len(chunks)))
    return paths


def _learning_curve_page(curves: pd.DataFrame, datasets: Sequence[str], models: Sequence[str],
                         response: str):
    """One page of learning-curve panels with the legend of every model below them."""
    labels = [model_label(model) for model in models]
    columns = legend_columns(labels, grid_width(len(datasets)) - 0.2)
    figure, panels, legend_area, axes = grid(len(datasets), panel_height=2.0,
                                             legend_height=legend_height_in(labels, columns))
    title_width = panel_width_in(figure.get_figwidth(), min(len(datasets), 3))
    handles = {}
    for axis, dataset in zip(axes, datasets, strict=True):
        panel = curves[curves["Dataset"] == dataset]
        lower, upper = _curve_range(panel, response)
        below = []
        for index, model in enumerate(models):
            rows = panel[panel["Embedding_model"] == model]
            if rows.empty:
                continue
            style = line_style(index)
            handles[model] = axis.errorbar(rows["Sample_size"], rows["mean"],
                                           yerr=rows["std"].fillna(0), markersize=3, capsize=2,
                                           **style)
            below.extend(mark_below(axis, rows["Sample_size"], rows["mean"], lower, style["color"]))
        axis.set_ylim(lower, upper)
        log_count_axis(axis, anchors=(panel["Sample_size"].min(),))
        axis.set_xlabel(below_note(below), fontsize=7)
        axis.set_title(wrap_label(dataset, title_width, font_size("axes.titlesize")))
    panels.supxlabel("training sample size (sequences, log scale)", fontsize=8)
    panels.supylabel(metric_label(response), fontsize=8)
    present = [model for model in models if model in handles]
    bottom_legend(legend_area, [handles[model] for model in present],
                  [model_label(model) for model in present])
    return figure


def _curve_range(panel: pd.DataFrame, response: str) -> tuple[float, float]:
    """y limits of one learning-curve panel: every mean, and the SD bars from ``FOCUS_SIZE`` on.

    The bars of the smallest samples (R² -2 ± 3 at 32 sequences) are cut by the frame rather
    than stretching the axis; the lower end follows :func:`informative_range`.
    """
    focus = panel[panel["Sample_size"] >= FOCUS_SIZE]
    if focus.empty:
        focus = panel
    spread = focus["std"].fillna(0)
    return informative_range(response, focus["mean"], pd.concat(
        [panel["mean"], focus["mean"] - spread, focus["mean"] + spread]))


# --------------------------------------------------------------------------- (d) data size


def datasize_plot(per_fold: pd.DataFrame, stem: str | Path, response: str = "R2_score_test",
                  method: str | None = None, fits: pd.DataFrame | None = None) -> list[Path]:
    """Per-data-set mean score against data-set size (log axis) with each model's OLS line.

    A model's line is drawn only when its data sets support one (at least ``MIN_FIT_DATASETS``
    spanning at least ``MIN_FIT_DECADES`` of size: :func:`plmtransfer.analysis.stats.datasize_fit_reason`);
    the legend gives its slope per tenfold more rows. When no model has a line, the data sets are
    drawn side by side in order of size, each labelled with its name and size, and the title says
    why there is no line (:func:`_datasize_points`). Data sets below the informative range (see
    the module docstring) are ▼ on the lower edge.
    """
    apply_style()
    frame = _one_method(per_fold, method)
    if fits is None:
        fits = datasize_fits(frame, response)
    means = dataset_means(frame, response, ["Embedding_model"]).dropna(subset=["dataset_size"])
    if means.empty:
        raise UserError("no data set with a known size to plot against size")
    values = means[response].dropna()
    lower, upper = informative_range(response, typical(values), values)
    models = sorted(means["Embedding_model"].unique())
    names = _model_names(models, results_baseline(per_fold))
    fitted = {model for model in models if np.isfinite(_slope(fits, model))}
    if not fitted:
        return _datasize_points(means, response, method, names, (lower, upper), stem)
    labels = [_datasize_label(model, names[model], fits) for model in models]
    width = PAGE_WIDTH_IN if len(models) > 4 else PAGE_WIDTH_IN * 0.75
    columns = legend_columns(labels, width - 0.2)
    title = wrap_label(f"Mean {short_metric(response)} against data-set size"
                       f"{f' ({method} compression)' if method else ''}; lines: OLS on log10(size), drawn "
                       f"for at least {MIN_FIT_DATASETS} data sets spanning at least {MIN_FIT_DECADES} decade; "
                       f"legend: slope per tenfold more rows, n = data sets", width - 0.4,
                       font_size("figure.titlesize"))
    height = 3.0 + 0.16 * title.count("\n") + legend_height_in(labels, columns)
    figure, axis = plt.subplots(figsize=(width, height), constrained_layout=True)
    below = []
    for index, (model, label) in enumerate(zip(models, labels, strict=True)):
        rows = means[means["Embedding_model"] == model]
        style = line_style(index)
        axis.scatter(rows["dataset_size"], rows[response], s=12, color=style["color"],
                     marker=style["marker"], alpha=0.8)
        if model in fitted:
            fit = fits[fits["Embedding_model"] == model].iloc[0]
            x = np.geomspace(rows["dataset_size"].min(), rows["dataset_size"].max(), 50)
            axis.plot(x, fit["intercept"] + fit["slope_per_log10_size"] * np.log10(x), color=style["color"],
                      linestyle=style["linestyle"])
        below.extend(mark_below(axis, rows["dataset_size"], rows[response], lower, style["color"]))
        axis.plot([], [], label=label, markersize=4, **style)
    axis.set_ylim(lower, upper)
    log_count_axis(axis, anchors=(means["dataset_size"].min(), means["dataset_size"].max()))
    axis.set_xlabel("data-set size (rows, log scale)" + (f"\n{below_note(below)}" if below else ""))
    axis.set_ylabel(f"mean {metric_label(response)} over folds")
    figure.suptitle(title)
    handles, legend_names = axis.get_legend_handles_labels()
    bottom_legend(figure, handles, legend_names)
    return save_figure(figure, stem)


def _datasize_points(means: pd.DataFrame, response: str, method: str | None, names: dict[str, str],
                     limits: tuple[float, float], stem: str | Path) -> list[Path]:
    """The data-size figure without lines: each data set at its own place on the x axis, in order
    of size and labelled ``NAME (1.44k rows)``, its models' means side by side; the title says
    why no line is drawn."""
    sizes = means.groupby("Dataset")["dataset_size"].first().sort_values(kind="stable")
    models = list(names)
    labels = [names[model] for model in models]
    width = PAGE_WIDTH_IN * 0.75 if len(sizes) <= 8 else PAGE_WIDTH_IN
    size_pt = font_size("xtick.labelsize")
    slot_in = (width - 1.2) / len(sizes)  # the axis's width per data set
    tick_labels = [wrap_label(f"{dataset} ({human_count(size)} rows)", slot_in - 0.1, size_pt)
                   for dataset, size in sizes.items()]
    upright = max(text_width_pt(label, size_pt) for label in tick_labels) <= slot_in * 72 - 6
    if not upright:
        tick_labels = [f"{dataset} ({human_count(size)} rows)" for dataset, size in sizes.items()]
    label_height = (max(label.count("\n") + 1 for label in tick_labels) * size_pt * 1.3 / 72 if upright
                    else max(text_width_pt(label, size_pt) for label in tick_labels) / 72)
    columns = legend_columns(labels, width - 0.2)
    title = wrap_label(f"Mean {short_metric(response)} per data set{f' ({method} compression)' if method else ''}, "
                       f"in order of size\nno line against size: {datasize_fit_reason(sizes.to_numpy())}",
                       width - 0.4, font_size("figure.titlesize"))
    height = 2.6 + label_height + 0.16 * title.count("\n") + legend_height_in(labels, columns)
    figure, axis = plt.subplots(figsize=(width, height), constrained_layout=True)
    position = {dataset: index for index, dataset in enumerate(sizes.index)}
    offsets = np.linspace(-0.25, 0.25, len(models)) if len(models) > 1 else np.zeros(1)
    below = []
    for index, (model, offset) in enumerate(zip(models, offsets, strict=True)):
        rows = means[means["Embedding_model"] == model]
        style = line_style(index)
        x = rows["Dataset"].map(position).to_numpy(dtype=float) + offset
        axis.scatter(x, rows[response], s=14, color=style["color"], marker=style["marker"], alpha=0.85,
                     label=names[model])
        below.extend(mark_below(axis, x, rows[response], limits[0], style["color"]))
    axis.set_xticks(np.arange(len(sizes)), tick_labels, rotation=0 if upright else 90)
    axis.set_xlim(-0.6, len(sizes) - 0.4)
    axis.set_ylim(*limits)
    axis.set_xlabel("data set (rows), in order of size" + (f"\n{below_note(below)}" if below else ""))
    axis.set_ylabel(f"mean {metric_label(response)} over folds")
    figure.suptitle(title)
    handles, legend_names = axis.get_legend_handles_labels()
    bottom_legend(figure, handles, legend_names)
    return save_figure(figure, stem)


def _slope(fits: pd.DataFrame, model: str) -> float:
    """The fitted slope of one model, NaN when it has none."""
    fit = fits[fits["Embedding_model"] == model]
    return float(fit["slope_per_log10_size"].iloc[0]) if not fit.empty else math.nan


def _model_names(models: Sequence[str], baseline: str | None) -> dict[str, str]:
    """Each model's name in a legend or on an axis: the baseline as ``one-hot flat (baseline)``."""
    return {model: baseline_name(baseline) if model == BASELINE and baseline else model_label(str(model))
            for model in models}


def _datasize_label(model: str, name: str, fits: pd.DataFrame) -> str:
    """Legend entry of one model: its name and its slope and number of data sets, or why no line."""
    fit = fits[fits["Embedding_model"] == model]
    if fit.empty:
        return name
    if np.isfinite(fit["slope_per_log10_size"].iloc[0]):
        return f"{name} ({fit['slope_per_log10_size'].iloc[0]:+.3f}, n={int(fit['n_datasets'].iloc[0])})"
    return f"{name} (no line: n={int(fit['n_datasets'].iloc[0])})"


# --------------------------------------------------------------------------- (e) heat map


def heatmap_table(per_fold: pd.DataFrame, columns: str = "Compression_method",
                  response: str = "R2_score_test") -> pd.DataFrame:
    """Data set x ``columns`` table of the mean ``response`` over folds (NaN where there is no result)."""
    return per_fold.groupby(["Dataset", columns])[response].mean().unstack(columns)


def heatmap_plot(per_fold: pd.DataFrame, stem: str | Path, columns: str = "Compression_method",
                 response: str = "R2_score_test", title_context: str = "",
                 max_rows: int = MAX_HEATMAP_ROWS, limits: tuple[float, float] | None = None,
                 order: Sequence[str] | None = None, column_names: dict[str, str] | None = None) -> list[Path]:
    """Data set x ``columns`` heat map of the mean score over folds (viridis).

    Rows follow ``order`` (the data sets of several heat maps in one order), by default their
    mean so that easy and hard data sets group together; cells are printed with their value
    where they are large enough, grey where there is no result. The colour scale is ``limits``
    (one scale for several heat maps), by default the informative range of these cells (see
    the module docstring): lower cells take the end colour and their row's label ends with its
    lowest value (``▼ -3.12``). ``column_names`` relabels columns (the baseline model as
    ``one-hot flat (baseline)``). More than ``max_rows`` data sets, or more columns than the page
    width holds apart (:func:`heatmap_columns_per_page`), go onto further pages with the same colour
    scale. Returns every file written.
    """
    apply_style()
    table = heatmap_table(per_fold, columns, response)
    if order is None:
        order = table.mean(axis=1).sort_values(ascending=False, na_position="last").index
    table = table.loc[[dataset for dataset in order if dataset in table.index]]
    cells = finite(table.to_numpy())
    if cells.size == 0:
        raise UserError(f"no finite {response} values for a heat map")
    lower, upper = limits or informative_range(response, typical(cells), cells)
    notes = [title_context.strip()]
    if (cells < lower).any():
        notes.append(f"cells below {plain_number(lower)} take the lowest colour; {BELOW}: the row's lowest")
    if np.isnan(table.to_numpy(dtype=float)).any():
        notes.append("grey: no result")
    lowest = table.min(axis=1)
    table.index = [f"{name} ({BELOW} {plain_number(low)})" if low < lower else str(name)
                   for name, low in lowest.items()]
    names = column_names or {}
    table.columns = [names.get(str(column), model_label(str(column)) if columns == "Embedding_model"
                               else str(column)) for column in table.columns]
    context = "; ".join(note for note in notes if note)
    column_pages = -(-len(table.columns) // heatmap_columns_per_page(table.index))
    column_chunks = pages(list(table.columns), -(-len(table.columns) // column_pages))  # balanced pages
    chunks = [(rows, page_columns) for rows in pages(list(table.index), max_rows) for page_columns in column_chunks]
    paths = []
    for number, (rows, page_columns) in enumerate(chunks, start=1):
        title = (f"Mean {short_metric(response)} over folds per data set and "
                 f"{columns.replace('_', ' ').lower()}{page_note(number, len(chunks))}"
                 + (f"\n{context}" if context else ""))
        figure = _heatmap_page(table.loc[rows, page_columns], columns, response, title, (lower, upper))
        paths += save_figure(figure, page_stem(stem, number, len(chunks)))
    return paths


def heatmap_columns_per_page(row_labels) -> int:
    """How many heat-map columns one page holds beside these row labels: at least
    ``MIN_HEATMAP_COLUMN_IN`` apart, so that the rotated column labels stay apart."""
    row_label_in = max(text_width_pt(str(label), font_size("ytick.labelsize")) for label in row_labels) / 72
    return max(1, int((PAGE_WIDTH_IN - row_label_in - HEATMAP_FRAME_IN) / MIN_HEATMAP_COLUMN_IN))


def _heatmap_page(table: pd.DataFrame, columns: str, response: str, title: str,
                  limits: tuple[float, float]):
    """One heat-map page: rows of ``table`` against its columns, values printed where they fit."""
    labels = [str(column) for column in table.columns]
    row_label_in = max(text_width_pt(str(r), font_size("ytick.labelsize")) for r in table.index) / 72
    column_label_in = max(text_width_pt(label, font_size("xtick.labelsize")) for label in labels) / 72
    width = min(PAGE_WIDTH_IN, max(4.0, row_label_in + HEATMAP_FRAME_IN + 0.36 * len(labels)))
    title = wrap_label(title, width - 0.3, font_size("figure.titlesize"))
    height = (0.16 * len(table) + column_label_in + 0.17 * (title.count("\n") + 1) + 0.9)
    figure, axis = plt.subplots(figsize=(width, max(2.4, height)), constrained_layout=True)
    colours = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")
    values = table.to_numpy(dtype=float)
    below = bool((values < limits[0]).any())
    image = axis.imshow(values, aspect="auto", cmap=colours, interpolation="nearest",
                        vmin=limits[0], vmax=limits[1])
    axis.set_xticks(np.arange(len(labels)), labels, rotation=90)
    axis.set_yticks(np.arange(len(table)), table.index)
    axis.spines[:].set_visible(False)
    figure.colorbar(image, ax=axis, label=f"mean {metric_label(response)}",
                    extend="min" if below else "neither")
    axis.set_xlabel(columns.replace("_", " ").lower())
    axis.set_ylabel("data set")
    figure.suptitle(title)
    _print_cells(figure, axis, values, limits)
    return figure


def _print_cells(figure, axis, values: np.ndarray, limits: tuple[float, float]) -> None:
    """Print each finite cell's value when the cells, as laid out, are large enough for it."""
    figure.draw_without_rendering()
    box = axis.get_window_extent()
    cell_width_pt = box.width * 72 / figure.dpi / values.shape[1]
    cell_height_pt = box.height * 72 / figure.dpi / values.shape[0]
    size = 6.0
    if cell_width_pt < text_width_pt("-0.00", size) + 3 or cell_height_pt < size * 1.3:
        return
    middle = (limits[0] + limits[1]) / 2
    for (row, column), value in np.ndenumerate(values):
        if np.isfinite(value):
            axis.text(column, row, plain_number(value), ha="center", va="center", fontsize=size,
                      color="black" if value > middle else "white")


# --------------------------------------------------------------------------- (e) layers


def layer_plot(per_fold: pd.DataFrame, stem: str | Path, response: str = "R2_score_test",
               method: str | None = None) -> list[Path]:
    """Score against relative depth (layer / number of layers), one line per model with several layers.

    One panel for ``response`` and one for Spearman ρ (test). Points are the mean over assays of
    the per-assay fold means (the assays holding every layer of the model), bands the 95% t
    interval over assays; ★ marks each model's best layer, and the panel's x label states the
    best and the last layer's scores (:mod:`plmtransfer.analysis.layers`).
    """
    apply_style()
    frame = _one_method(per_fold, method)
    responses = [response] + [column for column in (SECOND_RESPONSE,) if column != response and column in frame]
    curves = {name: layer_curves(frame, name) for name in responses}
    if curves[response].empty:
        raise UserError("no model with more than one layer in the results (a layer sweep: extract.py --repr_layers "
                        "with several layers, one regression per layer)")
    parameters = frame.groupby("Embedding_model")["Parameters"].first()
    models = sorted(curves[response]["Embedding_model"].unique(), key=lambda model: (parameters[model], model))
    labels = [model_label(model) for model in models] + ["best layer (highest mean over assays)"]
    figure, panels, legend_area, axes = grid(
        len(responses), max_columns=2, panel_height=2.6,
        legend_height=legend_height_in(labels, legend_columns(labels, grid_width(len(responses), 2) - 0.2)))
    for axis, name in zip(axes, responses, strict=True):
        _layer_panel(axis, curves[name], models, name)
    handles = [plt.Line2D([], [], **line_style(index), markersize=4) for index in range(len(models))]
    handles.append(plt.Line2D([], [], linestyle="none", marker="*", markersize=9, color="0.3"))
    bottom_legend(legend_area, handles, labels)
    assays = curves[response].groupby("Embedding_model")["n_datasets"].max()
    counted = ", ".join(sorted({str(count) for count in assays}))
    held = f" ({frame['Compression_method'].iloc[0]} compression)" if frame["Compression_method"].nunique() == 1 else ""
    shown = " and ".join(short_metric(name) for name in responses)
    figure.suptitle(wrap_label(
        f"{shown} against relative depth{held}; mean over {counted} assays ± 95% CI; "
        "0 = token embedding, 1 = last layer", figure.get_figwidth() - 0.3, font_size("figure.titlesize")))
    return save_figure(figure, stem)


def _layer_panel(axis, curves: pd.DataFrame, models: Sequence[str], response: str) -> None:
    """One panel of :func:`layer_plot`: each model's curve, band and best layer; best and last scores below."""
    shown = curves[["mean", "ci_low", "ci_high"]].to_numpy(dtype=float)
    if response.startswith("rho"):  # a correlation's interval beyond ±1 (few assays) says nothing more
        shown = np.clip(shown, -1.0, 1.0)
    lower, upper = informative_range(response, curves["mean"], shown)
    notes, below = [], []
    for index, model in enumerate(models):
        curve = curves[curves["Embedding_model"] == model].sort_values(DEPTH)
        style = line_style(index)
        axis.plot(curve[DEPTH], curve["mean"], markersize=4, zorder=3, **style)
        axis.fill_between(curve[DEPTH], curve["ci_low"], curve["ci_high"], color=style["color"], alpha=0.15,
                          linewidth=0, zorder=1)
        best, last = curve[curve["is_best"]].iloc[0], curve[curve["is_last"]].iloc[0]
        axis.plot([best[DEPTH]], [best["mean"]], linestyle="none", marker="*", markersize=11, color=style["color"],
                  markeredgecolor="black", markeredgewidth=0.5, zorder=4)
        below.extend(mark_below(axis, curve[DEPTH], curve["mean"], lower, style["color"]))
        notes.append(f"{model_label(model)}: best L{int(best[LAYER])} {plain_number(best['mean'], 3)}, "
                     f"last L{int(last[LAYER])} {plain_number(last['mean'], 3)}")
    axis.set_xlim(-0.05, 1.05)
    axis.set_ylim(lower, upper)
    axis.set_ylabel(metric_label(response))
    note = below_note(below)
    axis.set_xlabel("\n".join(["relative depth (layer / layers)", *notes, *([note] if note else [])]), fontsize=7)
    axis.set_title(short_metric(response))


def _one_method(frame: pd.DataFrame, method: str | None) -> pd.DataFrame:
    """Rows of one compression method (required when the results hold several), with the one-hot
    baseline where it has a single other method (``stats.method_rows``)."""
    if method is not None:
        rows = method_rows(frame, method)
        if rows.empty:
            raise UserError(f"no results for compression method {method!r}; present: "
                            f"{', '.join(sorted(frame['Compression_method'].unique()))}")
        return rows
    if frame["Compression_method"].nunique() > 1:
        raise UserError("the results hold several compression methods; choose one with --method")
    return frame


def preferred_method(methods: Sequence[str], reference: str = "mean") -> str:
    """The method figures use when one must be chosen: the reference if present, else the first."""
    methods = sorted(methods)
    return reference if reference in methods else methods[0]


class Fact(str):
    """A note on a figure the design leaves out (learning curves not asked for, a heat map of one
    method): stated on the report's page, not a warning."""


def _attempt(notes: list[str], paths: list[Path], name: str, draw) -> None:
    """Draw one figure; a figure whose inputs are missing becomes a one-line note instead."""
    try:
        paths.extend(draw())
    except UserError as error:
        notes.append(f"skipped figure {name}: {error}")


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Inputs:
    """What :func:`all_figures` draws from: per-fold results and the optional tables beside them.

    ``per_fold`` holds each model's last layer (the study's), ``layered`` every layer of the results.
    """

    per_fold: pd.DataFrame
    figures_dir: Path
    response: str
    sampling: pd.DataFrame | None
    contrast_tables: dict[str, pd.DataFrame]
    fits: pd.DataFrame | None
    method_reference: str
    sampling_asked: bool
    layered: pd.DataFrame

    @cached_property
    def method(self) -> str:
        """The compression method of the figures that compare models."""
        return preferred_method(self.per_fold["Compression_method"].unique(), self.method_reference)

    @cached_property
    def models(self) -> list[str]:
        """The embedding models of the per-fold results, sorted."""
        return sorted(self.per_fold["Embedding_model"].unique())

    @cached_property
    def baseline(self) -> str | None:
        """The method of the one-hot baseline in these results (None without one)."""
        return results_baseline(self.per_fold)


Job = tuple[str, Callable[[], list[Path]]] | str
"""One figure to draw (its name and a call that draws it) or a note on why it is skipped (a
:class:`Fact` when the design leaves it out, else a warning)."""


@dataclass(frozen=True)
class Figure:
    """A results figure: how to draw it, what it needs, its file names (``<stem>.png``/``.pdf``; pages add
    ``_page<n>``) and what it shows."""

    draw: Callable[..., list[Path]]
    needs: str
    files: tuple[str, ...]
    description: str
    jobs: Callable[[Inputs], list[Job]]


def forest_jobs(inputs: Inputs) -> list[Job]:
    """One forest plot per contrast table, named by the table's file stem."""
    return [(stem, lambda t=table, s=stem: forest_plot(t, inputs.figures_dir / s))
            for stem, table in inputs.contrast_tables.items()]


def model_size_jobs(inputs: Inputs) -> list[Job]:
    """The model-size figure of the reference method."""
    return [("model_size", lambda: model_size_plot(
        inputs.per_fold, inputs.figures_dir / f"model_size_{inputs.method}", inputs.response, inputs.method))]


def datasize_jobs(inputs: Inputs) -> list[Job]:
    """The data-size figure of the reference method, when the data-set sizes are known."""
    if not inputs.per_fold["dataset_size"].notna().any():
        return ["skipped figure datasize: no dataset_size (pass --metadata-dir)"]
    fits = None if inputs.fits is None else inputs.fits[inputs.fits["Compression_method"] == inputs.method]
    return [("datasize", lambda: datasize_plot(
        inputs.per_fold, inputs.figures_dir / f"datasize_{inputs.method}", inputs.response, inputs.method, fits))]


def heatmap_jobs(inputs: Inputs) -> list[Job]:
    """A data set x method heat map per model (several methods), a data set x model one (several models).

    All of them share one colour scale and one data-set order (:func:`shared_heatmap_scale`), so
    that a colour or a row means the same in each.
    """
    per_fold, response = inputs.per_fold, inputs.response
    tables: list[tuple[str, pd.DataFrame, str, str, dict[str, str]]] = []
    notes: list[Job] = []
    if per_fold["Compression_method"].nunique() > 1:
        for model in inputs.models:
            tables.append((f"heatmap_methods_{model}", per_fold[per_fold["Embedding_model"] == model],
                           "Compression_method", f"model: {model_label(model)}", {}))
    else:
        notes.append(Fact("no figure heatmap_methods: the results hold one compression method"))
    if len(inputs.models) > 1:
        baseline = {BASELINE: baseline_name(inputs.baseline)} if inputs.baseline else {}
        tables.append((f"heatmap_models_{inputs.method}", method_rows(per_fold, inputs.method), "Embedding_model",
                       f"{inputs.method} compression" + (f", against {baseline[BASELINE]}" if baseline else ""),
                       baseline))
    else:
        notes.append(Fact("no figure heatmap_models: the results hold one embedding model"))
    limits, order = shared_heatmap_scale([heatmap_table(rows, columns, response)
                                          for _, rows, columns, _, _ in tables], response)
    shared = "; colour scale and data-set order shared by every heat map" if len(tables) > 1 else ""
    return notes + [(stem, lambda s=stem, r=rows, c=columns, t=context, n=names: heatmap_plot(
        r, inputs.figures_dir / s, c, response, t + shared, limits=limits, order=order, column_names=n))
        for stem, rows, columns, context, names in tables]


def shared_heatmap_scale(tables: Sequence[pd.DataFrame], response: str) -> tuple[tuple[float, float] | None, list]:
    """One colour scale (the informative range of every cell) and one data-set order (by the mean
    over every cell of the data set, highest first) for several heat-map tables."""
    cells = finite(np.concatenate([table.to_numpy(dtype=float).ravel() for table in tables])) if tables else []
    if len(cells) == 0:
        return None, []
    stacked = pd.concat([table.stack() for table in tables])
    order = stacked.groupby(level=0).mean().sort_values(ascending=False, kind="stable").index
    return informative_range(response, typical(cells), cells), list(order)


def learning_curve_jobs(inputs: Inputs) -> list[Job]:
    """The learning curves of the reference method, when there are learning-curve results."""
    if inputs.sampling is None and not inputs.sampling_asked:
        return [Fact("no figure learning_curves: learning curves were not asked for (no --sampling-dir)")]
    if inputs.sampling is None:
        return ["skipped figure learning_curves: no learning-curve results in --sampling-dir"]
    method = preferred_method(inputs.sampling["Compression_method"].unique(), inputs.method_reference)
    return [("learning_curves", lambda: learning_curve_plot(
        inputs.sampling, inputs.figures_dir / f"learning_curves_{method}", inputs.response, method))]


def layer_jobs(inputs: Inputs) -> list[Job]:
    """The layer figure of the reference method (else the first method swept), when the results hold several
    layers of a model."""
    if not has_layer_sweep(inputs.layered):
        return [Fact("no figure layers: the results hold one layer per model")]
    method = preferred_method(inputs.layered["Compression_method"].unique(), inputs.method_reference)
    return [("layers", lambda: layer_plot(
        inputs.layered, inputs.figures_dir / f"layers_{method}", inputs.response, method))]


FIGURES: dict[str, Figure] = {
    "forest": Figure(forest_plot, "a contrast table of `scripts/stats.py lme`", ("forest_<factor>_<within>",),
                     "contrasts with simultaneous CIs and stars, ordered by estimate", forest_jobs),
    "model-size": Figure(model_size_plot, "per-fold results of models with a known parameter count",
                         ("model_size_<method>",), "score per model against parameter count, one panel per model "
                         "family", model_size_jobs),
    "datasize": Figure(datasize_plot, "per-fold results with data-set sizes (--metadata-dir)", ("datasize_<method>",),
                       "per-data-set mean score against data-set size with OLS fits", datasize_jobs),
    "heatmap": Figure(heatmap_plot, "per-fold results of several methods or models",
                      ("heatmap_methods_<model>", "heatmap_models_<method>"),
                      "data set x method (or model) heat map of the mean score", heatmap_jobs),
    "learning-curves": Figure(learning_curve_plot, "learning-curve results (with Sample_size)",
                              ("learning_curves_<method>",), "score against training-sample size, one line per "
                              "model, one panel per data set", learning_curve_jobs),
    "layers": Figure(layer_plot, "per-fold results of several layers of a model (a layer sweep)", ("layers_<method>",),
                     "score and Spearman against relative depth (layer / layers), one line per model, best layer "
                     "marked", layer_jobs),
}
"""Every results figure by its ``scripts/plot.py`` subcommand, in the order :func:`all_figures` draws them."""


def all_figures(per_fold: pd.DataFrame, figures_dir: str | Path, response: str = "R2_score_test",
                sampling: pd.DataFrame | None = None,
                contrast_tables: dict[str, pd.DataFrame] | None = None,
                fits: pd.DataFrame | None = None,
                method_reference: str = "mean", sampling_asked: bool = False,
                layered: pd.DataFrame | None = None) -> tuple[list[Path], list[str]]:
    """Every registered figure whose inputs exist; returns (paths written, notes on skipped figures).

    ``contrast_tables`` maps a file stem (``forest_Compression_method_esm2_150M``) to its
    contrast table. Figures comparing models use the reference compression method. A note is
    a :class:`Fact` when the design leaves the figure out (``sampling_asked``: learning-curve
    results were asked for, so their absence is a warning), else a warning. Results of several
    layers of a model (a layer sweep; ``layered``: the rows of every layer, by default ``per_fold``)
    give the layer figure; every other figure reads each model's last layer
    (:func:`plmtransfer.analysis.layers.last_layer_rows`), so that layers are never pooled.
    """
    inputs = Inputs(last_layer_rows(per_fold), Path(figures_dir), response, sampling, contrast_tables or {}, fits,
                    method_reference, sampling_asked, per_fold if layered is None else layered)
    paths: list[Path] = []
    notes: list[str] = []
    for figure in FIGURES.values():
        for job in figure.jobs(inputs):
            if isinstance(job, str):
                notes.append(job)
            else:
                _attempt(notes, paths, *job)
    return paths, notes
