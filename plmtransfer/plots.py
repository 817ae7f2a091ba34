"""Publication figures from the tidy per-fold results and the statistics tables.

Every figure is written as PNG (200 dpi) and PDF, uses the Okabe-Ito colour-blind-safe
palette (viridis for heat maps), says in its title what it shows, labels its axes with units
and is sized for a journal column or page. Models with random (untrained) weights are labelled
``[random weights]`` wherever they appear: their scores carry no biology.

Every figure reads on its own (``tests/test_figure_layout.py`` checks that no two text elements
overlap and that all text lies inside the figure, on the study's longest names and largest
level counts):

- long names wrap at spaces or after ``_`` to the width they have (:func:`wrap_label`);
- log axes of counts tick at 10^k (every decade, or every second or third one when
  crowded), then at given anchors (the smallest training size), then, on short ranges only,
  at 2 and 5 x 10^k, keeping a tick only where its label has room (:class:`ReadableLogLocator`);
- an R² axis or colour scale covers the informative part: its lower end is the smaller of
  ``R2_FLOOR`` (-0.5) and the lowest value a reader compares (the means at training size >=
  ``FOCUS_SIZE`` in a learning curve, the means over data sets in the model-size figure, the
  points or cells above Tukey's lower fence otherwise: :func:`typical`), never below the
  lowest value drawn; values below it are drawn as ▼ on the lower edge and counted, with the
  lowest, under the panel (in a heat map: the end colour, an arrow on the colour bar and the
  row's lowest value after its label);
- legends take as many columns as fit the figure's width; more than eight levels get
  distinct colour + marker + line-style combinations (:func:`line_style`);
- more than ``MAX_PANELS`` learning-curve panels or ``MAX_HEATMAP_ROWS`` heat-map rows go
  onto further pages, ``<stem>_page1``, ``<stem>_page2``, ..., all returned.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.textpath import text_to_path  # noqa: E402
from matplotlib.ticker import FuncFormatter, Locator, MaxNLocator, NullFormatter  # noqa: E402

from plmtransfer.errors import UserError  # noqa: E402
from plmtransfer.io import atomic_path  # noqa: E402
from plmtransfer.stats import dataset_means, datasize_fits, mean_ci, method_rows, model_info  # noqa: E402

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINE_STYLES = ("-", "--", ":", "-.")
DPI = 200
PAGE_WIDTH_IN = 7.0
R2_FLOOR = -0.5
FOCUS_SIZE = 100
MAX_PANELS = 12
MAX_HEATMAP_ROWS = 45
BELOW = "▼"
TICK_GAP_PT = 4.0
MIN_TICKS = 3
LEGEND_HANDLE_PT = 38.0
METRIC_LABELS = {
    "R2_score_test": "test R² (unitless)", "R2_score_train": "train R² (unitless)",
    "rho_score_test": "test Spearman ρ (unitless)", "rho_score_train": "train Spearman ρ (unitless)",
    "MAE_score_test": "test MAE (target units)", "RMSE_score_test": "test RMSE (target units)",
    "MAE_score_train": "train MAE (target units)", "RMSE_score_train": "train RMSE (target units)",
    "num_nonzero_coefs": "non-zero coefficients (count)", "fit_seconds": "fit time (s)",
}
SHORT_METRIC = {"R2_score_test": "test R²", "R2_score_train": "train R²",
                "rho_score_test": "test Spearman ρ"}


def apply_style() -> None:
    """Font sizes and line widths readable when printed at journal-column width."""
    plt.rcParams.update({
        "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 7,
        "ytick.labelsize": 7, "legend.fontsize": 7, "figure.titlesize": 10, "lines.linewidth": 1.2,
        "axes.spines.top": False, "axes.spines.right": False, "savefig.bbox": "tight",
        "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
    })


def metric_label(response: str) -> str:
    """Axis label with units for a metric column."""
    return METRIC_LABELS.get(response, response)


def short_metric(response: str) -> str:
    """Short metric name for titles."""
    return SHORT_METRIC.get(response, response)


def model_label(name: str) -> str:
    """A model's display name, flagged when its weights are random (a test model)."""
    return f"{name} [random weights]" if model_info(name).random_weights else name


def human_count(value: float, _position=None) -> str:
    """Tick label of a count: 32, 300, 2k, 152k, 8M, 3B (three significant digits at most)."""
    for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def font_size(key: str) -> float:
    """An rcParams font size (``"xtick.labelsize"``, ``"axes.titlesize"``...) in points."""
    return FontProperties(size=plt.rcParams[key]).get_size_in_points()


@functools.lru_cache(maxsize=4096)
def text_width_pt(text: str, size: float) -> float:
    """Width in points of ``text`` (its widest line) in the default font at ``size`` points."""
    font = FontProperties(size=size)
    return max((text_to_path.get_text_width_height_descent(line, font, ismath=False)[0]
                for line in str(text).split("\n") if line), default=0.0)


def wrap_label(text: str, width_in: float, size: float) -> str:
    """``text`` broken into lines at most ``width_in`` wide where it can be.

    Lines break at spaces, or after ``_`` inside long names (``MTH3_HAEAESTABILIZED_`` /
    ``Tawfik2015``); one piece wider than the width stays whole.
    """
    limit = width_in * 72
    lines = []
    for paragraph in str(text).split("\n"):
        line = ""
        for piece in filter(None, re.split(r"(?<=[ _])", paragraph)):
            if line and text_width_pt((line + piece).rstrip(), size) > limit:
                lines.append(line.rstrip())
                line = piece
            else:
                line += piece
        lines.append(line.rstrip())
    return "\n".join(lines)


class ReadableLogLocator(Locator):
    """Ticks of a log x axis of counts whose labels never touch.

    Candidates in order of preference: 10^k (every decade, else every second or third one,
    evenly, when the labels of every decade do not fit), the ``anchors`` (e.g. the smallest
    training size, 32), then, only while fewer than ``MIN_TICKS`` are kept, 2 and 5 x 10^k. A
    candidate is kept when the gap to every kept tick, in points along the axis as drawn,
    leaves room for both labels plus ``TICK_GAP_PT``.
    """

    def __init__(self, anchors: Iterable[float] = ()):
        self.anchors = tuple(sorted(float(a) for a in anchors if a > 0))

    def __call__(self):
        """The ticks of the current view."""
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin, vmax):
        """Readable ticks between ``vmin`` and ``vmax`` at the axis's current drawn length."""
        low, high = sorted((float(vmin), float(vmax)))
        if not (low > 0 and np.isfinite(high) and high > low):
            return np.array([])
        axes = self.axis.axes
        per_decade = axes.bbox.width * 72 / axes.figure.dpi / math.log10(high / low)
        decades = [k for k in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
                   if low * (1 - 1e-9) <= 10.0 ** k <= high * (1 + 1e-9)]
        for stride in range(1, len(decades) + 1):
            powers = [10.0 ** k for k in decades if k % stride == 0]
            kept = self._room_for(powers, [], low, high, per_decade)
            if len(kept) == len(powers):
                break
        else:
            kept = []
        kept += self._room_for(self.anchors, kept, low, high, per_decade)
        if len(kept) < MIN_TICKS:
            fillers = [m * 10.0 ** k for k in range(math.floor(math.log10(low)),
                                                    math.ceil(math.log10(high)) + 1) for m in (2, 5)]
            kept += self._room_for(fillers, kept, low, high, per_decade)
        return np.array(sorted(kept))

    @staticmethod
    def _room_for(candidates, kept, low, high, per_decade) -> list[float]:
        """The ``candidates`` in view whose labels fit beside ``kept`` and each other, in order."""
        size = font_size("xtick.labelsize")
        chosen: list[float] = []
        for value in candidates:
            if not low * (1 - 1e-9) <= value <= high * (1 + 1e-9):
                continue
            half = text_width_pt(human_count(value), size) / 2
            if all(abs(math.log10(value / other)) * per_decade
                   >= half + text_width_pt(human_count(other), size) / 2 + TICK_GAP_PT
                   for other in kept + chosen):
                chosen.append(value)
        return chosen


def log_count_axis(axis, anchors: Iterable[float] = ()) -> None:
    """Log-scaled x axis of counts with readable labels (:class:`ReadableLogLocator`)."""
    axis.set_xscale("log")
    axis.xaxis.set_major_locator(ReadableLogLocator(anchors))
    axis.xaxis.set_major_formatter(FuncFormatter(human_count))
    axis.xaxis.set_minor_formatter(NullFormatter())


def line_style(index: int) -> dict:
    """Colour, marker and line style of the ``index``-th level: distinct for up to 64 levels."""
    cycle = index // len(OKABE_ITO)
    return {"color": OKABE_ITO[index % len(OKABE_ITO)],
            "marker": MARKERS[(index + cycle) % len(MARKERS)],
            "linestyle": LINE_STYLES[cycle % len(LINE_STYLES)]}


def is_r2(response: str) -> bool:
    """Whether ``response`` is an R² (unbounded below: small samples give R² of -3 and worse)."""
    return response.startswith("R2_")


def _finite(values) -> np.ndarray:
    """The finite entries of ``values`` as a float array."""
    values = np.asarray(values, dtype=float).ravel()
    return values[np.isfinite(values)]


def informative_range(response: str, focus, shown) -> tuple[float, float]:
    """Limits (lower, upper) of an axis or colour scale that shows ``shown``.

    For an R², the lower end is the smaller of ``R2_FLOOR`` and the lowest ``focus`` value (the
    values a reader compares), but never below the lowest ``shown`` value, and the upper end
    at most 1 (R²'s maximum; a wide interval may reach beyond it); other metrics show
    everything. 5% padding; at least 0.1 wide.
    """
    shown, focus = _finite(shown), _finite(focus)
    if shown.size == 0:
        return (R2_FLOOR, 1.0) if is_r2(response) else (0.0, 1.0)
    lower, upper = float(shown.min()), float(shown.max())
    if is_r2(response):
        upper = min(upper, 1.0)
        if focus.size:
            lower = max(lower, min(R2_FLOOR, float(focus.min())))
    pad = 0.05 * max(upper - lower, 0.1)
    return lower - pad, upper + pad


def typical(values) -> np.ndarray:
    """The finite ``values`` above Tukey's lower fence (first quartile - 1.5 x IQR).

    The values a reader compares in a figure of many data sets: a few very hard data sets
    (R² of -3) fall below the fence and are marked at the edge instead of setting the range.
    """
    values = _finite(values)
    if values.size == 0:
        return values
    first, third = np.quantile(values, [0.25, 0.75])
    return values[values >= first - 1.5 * (third - first)]


def mark_below(axis, x, y, lower: float, color: str) -> np.ndarray:
    """Draw the ``y`` values below ``lower`` as ▼ on the axis's lower edge; return those values."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    below = np.isfinite(y) & (y < lower)
    if below.any():
        axis.plot(x[below], np.zeros(below.sum()), transform=axis.get_xaxis_transform(),
                  linestyle="none", marker="v", markersize=4, color=color, clip_on=False, zorder=5)
    return y[below]


def below_note(values: Sequence[float]) -> str:
    """Note under a panel on values drawn at its lower edge: ``▼ 5 below axis, lowest -3.87``."""
    values = _finite(values)
    if values.size == 0:
        return ""
    return f"{BELOW} {values.size} below axis, lowest {values.min():.2f}"


def legend_columns(labels: Sequence[str], width_in: float) -> int:
    """How many legend columns of ``labels`` fit side by side in ``width_in``."""
    widest = max((text_width_pt(label, font_size("legend.fontsize")) for label in labels),
                 default=0.0) + LEGEND_HANDLE_PT
    return max(1, min(len(labels), int(width_in * 72 // widest)))


def legend_height_in(labels: Sequence[str], columns: int) -> float:
    """Height a legend of ``labels`` in ``columns`` needs below the panels (inches)."""
    return 0.15 + math.ceil(len(labels) / columns) * 0.16


def pages(items: Sequence, per_page: int) -> list[list]:
    """``items`` in consecutive chunks of at most ``per_page`` (one chunk when they fit)."""
    items = list(items)
    return [items[i:i + per_page] for i in range(0, len(items), per_page)] or [items]


def page_stem(stem: str | Path, page: int, count: int) -> Path:
    """``stem`` for a one-page figure, ``<stem>_page<page>`` when there are several pages."""
    stem = Path(stem)
    return stem if count == 1 else stem.with_name(f"{stem.name}_page{page}")


def page_note(page: int, count: int) -> str:
    """`` (page 2 of 4)`` when there are several pages, else nothing."""
    return f" (page {page} of {count})" if count > 1 else ""


def save_figure(figure, stem: str | Path) -> list[Path]:
    """Write ``<stem>.png`` (200 dpi) and ``<stem>.pdf`` atomically; close the figure."""
    stem = Path(stem)
    paths = []
    for suffix in (".png", ".pdf"):
        path = stem.with_suffix(suffix)
        with atomic_path(path) as temporary:
            figure.savefig(temporary, dpi=DPI, format=suffix[1:])
        paths.append(path)
    plt.close(figure)
    return paths


def grid_width(count: int, max_columns: int = 3) -> float:
    """Width (inches) of a :func:`grid` figure of ``count`` panels."""
    return min(PAGE_WIDTH_IN, 2.6 * min(count, max_columns) + 0.8)


def grid(count: int, max_columns: int = 3, panel_height: float = 2.4, legend_height: float = 0.0):
    """A figure with ``count`` panels in rows of at most ``max_columns``; unused axes hidden.

    Returns (figure, panels, legend area, axes): ``panels`` is the subfigure holding the axes
    (for its shared axis labels), ``legend area`` a subfigure ``legend_height`` inches tall
    below it (None when 0), so a legend never collides with the panels' shared x label.
    """
    columns = min(count, max_columns)
    rows = math.ceil(count / columns)
    width = grid_width(count, max_columns)
    height = panel_height * rows + 0.6
    figure = plt.figure(figsize=(width, height + legend_height), layout="constrained")
    panels, legend_area = figure, None
    if legend_height > 0:
        panels, legend_area = figure.subfigures(2, 1, height_ratios=(height, legend_height))
    axes = panels.subplots(rows, columns, squeeze=False).ravel()
    for axis in axes[count:]:
        axis.set_visible(False)
    return figure, panels, legend_area, axes[:count]


def panel_width_in(figure_width: float, columns: int) -> float:
    """Width of one panel's plotting area in a :func:`grid` figure (for wrapping its title)."""
    return (figure_width - 0.5) / columns - 0.45


def bottom_legend(figure, handles, labels, title: str | None = None) -> None:
    """A legend below the panels with as many columns as fit the figure's width.

    ``figure`` is a figure (the legend goes outside its axes, at the bottom) or a legend-area
    subfigure of :func:`grid` (the legend fills it).
    """
    columns = legend_columns(labels, figure.get_figure(root=True).get_figwidth() - 0.2)
    location = "outside lower center" if figure is figure.get_figure(root=True) else "center"
    figure.legend(handles, labels, loc=location, ncol=columns, frameon=False, title=title,
                  title_fontsize=7)


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
    reference = first["reference"]
    factor = str(first["factor"]).replace("_", " ").lower()
    ci = f"{first['ci_level']:.0%} {'simultaneous ' if first['adjust'] != 'none' else ''}CI"
    title = wrap_label(title or (f"{short_metric(first['response'])}: each {factor} − "
                                 f"{model_label(str(reference))} (mixed model, {first['adjust']} "
                                 f"adjustment, {ci})"), width - 0.3, font_size("figure.titlesize"))
    height = 1.5 + 0.2 * len(table) + 0.16 * title.count("\n")
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
    axis.set_xlabel(wrap_label(f"difference in {metric_label(first['response'])} vs "
                               f"{model_label(str(reference))}", axis_width,
                               font_size("axes.labelsize")))
    axis.set_ylabel(factor)
    figure.suptitle(title)
    handles, names = axis.get_legend_handles_labels()
    bottom_legend(figure, handles, names,
                  title="adjusted p: *** < 0.001, ** < 0.01, * < 0.05, . < 0.1")
    return save_figure(figure, stem)


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
    baseline = means[means["Embedding_model"] == "onehot"][response].dropna()
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
        ["one-hot baseline (mean)"] if len(baseline) else [])
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
    figure.suptitle(wrap_label(f"{short_metric(response)} against model size"
                               f"{f' ({method} compression)' if method else ''}",
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

    The legend gives each line's slope per tenfold more rows; data sets below the informative
    range (see the module docstring) are ▼ on the lower edge.
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
    labels = [_datasize_label(model, fits) for model in models]
    width = PAGE_WIDTH_IN if len(models) > 4 else PAGE_WIDTH_IN * 0.75
    columns = legend_columns(labels, width - 0.2)
    title = wrap_label(f"Mean {short_metric(response)} against data-set size; lines: OLS on "
                       f"log10(size); legend: slope per tenfold more rows, n = data sets"
                       f"{f' ({method} compression)' if method else ''}", width - 0.4,
                       font_size("figure.titlesize"))
    height = 3.0 + 0.16 * title.count("\n") + legend_height_in(labels, columns)
    figure, axis = plt.subplots(figsize=(width, height), constrained_layout=True)
    below = []
    for index, (model, label) in enumerate(zip(models, labels, strict=True)):
        rows = means[means["Embedding_model"] == model]
        style = line_style(index)
        axis.scatter(rows["dataset_size"], rows[response], s=12, color=style["color"],
                     marker=style["marker"], alpha=0.8)
        fit = fits[fits["Embedding_model"] == model]
        if not fit.empty and np.isfinite(fit["slope_per_log10_size"].iloc[0]):
            slope, intercept = fit["slope_per_log10_size"].iloc[0], fit["intercept"].iloc[0]
            x = np.geomspace(rows["dataset_size"].min(), rows["dataset_size"].max(), 50)
            axis.plot(x, intercept + slope * np.log10(x), color=style["color"],
                      linestyle=style["linestyle"])
        below.extend(mark_below(axis, rows["dataset_size"], rows[response], lower, style["color"]))
        axis.plot([], [], label=label, markersize=4, **style)
    axis.set_ylim(lower, upper)
    log_count_axis(axis, anchors=(means["dataset_size"].min(), means["dataset_size"].max()))
    axis.set_xlabel("data-set size (rows, log scale)" + (f"\n{below_note(below)}" if below else ""))
    axis.set_ylabel(f"mean {metric_label(response)} over folds")
    figure.suptitle(title)
    handles, names = axis.get_legend_handles_labels()
    bottom_legend(figure, handles, names)
    return save_figure(figure, stem)


def _datasize_label(model: str, fits: pd.DataFrame) -> str:
    """Legend entry of one model: its name and, when fitted, the slope and number of data sets."""
    label = model_label(str(model))
    fit = fits[fits["Embedding_model"] == model]
    if not fit.empty and np.isfinite(fit["slope_per_log10_size"].iloc[0]):
        label += (f" ({fit['slope_per_log10_size'].iloc[0]:+.3f}, "
                  f"n={int(fit['n_datasets'].iloc[0])})")
    return label


# --------------------------------------------------------------------------- (e) heat map


def heatmap_plot(per_fold: pd.DataFrame, stem: str | Path, columns: str = "Compression_method",
                 response: str = "R2_score_test", title_context: str = "",
                 max_rows: int = MAX_HEATMAP_ROWS) -> list[Path]:
    """Data set x ``columns`` heat map of the mean score over folds (viridis).

    Rows are sorted by their mean so that easy and hard data sets group together; cells are
    printed with their value where they are large enough, grey where there is no result. The
    colour scale covers the informative range (see the module docstring): lower cells take the
    end colour and their row's label ends with its lowest value (``▼ -3.12``). More than
    ``max_rows`` data sets go onto further pages with the same colour scale. Returns every file
    written.
    """
    apply_style()
    table = per_fold.groupby(["Dataset", columns])[response].mean().unstack(columns)
    table = table.loc[table.mean(axis=1).sort_values(ascending=False, na_position="last").index]
    cells = _finite(table.to_numpy())
    if cells.size == 0:
        raise UserError(f"no finite {response} values for a heat map")
    lower, upper = informative_range(response, typical(cells), cells)
    notes = [title_context.strip()]
    if (cells < lower).any():
        notes.append(f"cells below {lower:.2f} take the lowest colour; {BELOW}: the row's lowest")
    if np.isnan(table.to_numpy(dtype=float)).any():
        notes.append("grey: no result")
    lowest = table.min(axis=1)
    table.index = [f"{name} ({BELOW} {low:.2f})" if low < lower else str(name)
                   for name, low in lowest.items()]
    context = "; ".join(note for note in notes if note)
    chunks = pages(list(table.index), max_rows)
    paths = []
    for number, rows in enumerate(chunks, start=1):
        title = (f"Mean {short_metric(response)} over folds per data set and "
                 f"{columns.replace('_', ' ').lower()}{page_note(number, len(chunks))}"
                 + (f"\n{context}" if context else ""))
        figure = _heatmap_page(table.loc[rows], columns, response, title, (lower, upper))
        paths += save_figure(figure, page_stem(stem, number, len(chunks)))
    return paths


def _heatmap_page(table: pd.DataFrame, columns: str, response: str, title: str,
                  limits: tuple[float, float]):
    """One heat-map page: rows of ``table`` against its columns, values printed where they fit."""
    labels = [model_label(str(c)) if columns == "Embedding_model" else str(c) for c in table.columns]
    row_label_in = max(text_width_pt(str(r), font_size("ytick.labelsize")) for r in table.index) / 72
    column_label_in = max(text_width_pt(label, font_size("xtick.labelsize")) for label in labels) / 72
    width = min(PAGE_WIDTH_IN, max(4.0, row_label_in + 1.6 + 0.36 * len(labels)))
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
            axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=size,
                      color="black" if value > middle else "white")


# --------------------------------------------------------------------------- (f) contact map

SECONDARY_STRUCTURE = {"H": ("helix", OKABE_ITO[3]), "E": ("strand", OKABE_ITO[0]), "C": ("coil", "0.55")}
MIN_SEPARATION = 6
MAX_HEAD_PANELS = 16
ATTENTION_SCALE_PERCENTILE = 99


def contact_map_plot(contacts: np.ndarray | None, stem: str | Path, protein: str, model: str,
                     heads: dict[str, np.ndarray] | None = None, secondary_structure: str | None = None,
                     true_contacts: np.ndarray | None = None, true_label: str = "true contact",
                     min_separation: int = MIN_SEPARATION) -> list[Path]:
    """A protein's predicted contact map (``<stem>``) and, given ``heads``, its attention heads (``<stem>_attention``).

    ``contacts``: L x L contact probabilities, drawn whole (colour bar 0..1), residues numbered
    from 1 on both axes. ``secondary_structure``: L letters H/E/C, a track above the map.
    ``true_contacts``: L x L booleans, drawn as dots in the lower triangle (pairs at least
    ``min_separation`` apart in sequence), so the upper triangle shows the prediction alone.
    ``heads``: panel title -> L x L attention weights (query rows, key columns), each panel
    on its own scale (0 to its ``ATTENTION_SCALE_PERCENTILE``-th percentile: a few large
    weights, often on the first residues, would otherwise leave the rest white). Returns every
    file written.
    """
    apply_style()
    paths = []
    if contacts is not None:
        paths += save_figure(_contact_figure(contacts, protein, model, secondary_structure, true_contacts,
                                             true_label, min_separation), stem)
    if heads:
        paths += save_figure(_attention_figure(heads, protein, model), Path(f"{stem}_attention"))
    if not paths:
        raise UserError("nothing to draw: the file has no contacts and no attention heads were chosen")
    return paths


def residue_axes(axis, length: int) -> None:
    """Residue numbers (1-based, integers) on both axes of an L x L map drawn with :func:`residue_extent`."""
    for which in (axis.xaxis, axis.yaxis):
        which.set_major_locator(MaxNLocator(nbins=6, integer=True, steps=[1, 2, 5, 10]))
    axis.set_xlim(0.5, length + 0.5)
    axis.set_ylim(length + 0.5, 0.5)


def residue_extent(length: int) -> tuple[float, float, float, float]:
    """``imshow`` extent that puts residue i (1-based) at coordinate i, residue 1 top left."""
    return (0.5, length + 0.5, length + 0.5, 0.5)


def _contact_figure(contacts, protein, model, secondary_structure, true_contacts, true_label, min_separation):
    """The predicted contact map with its optional secondary-structure track and true-contact dots."""
    length = contacts.shape[0]
    width = 5.0
    labels = ([f"{true_label}, |i − j| ≥ {min_separation} (lower triangle)"] if true_contacts is not None else [])
    letters = [letter for letter in SECONDARY_STRUCTURE if letter in (secondary_structure or "")]
    labels += [f"{SECONDARY_STRUCTURE[letter][0]} ({letter}, top track)" for letter in letters]
    title = wrap_label(f"Predicted contacts of {protein}\n{model_label(model)}", width - 0.3,
                       font_size("figure.titlesize"))
    legend = legend_height_in(labels, legend_columns(labels, width - 0.2)) if labels else 0.0
    height = 4.55 + 0.17 * title.count("\n") + 0.2 * (secondary_structure is not None) + legend
    figure, axis = plt.subplots(figsize=(width, height), layout="constrained")
    image = axis.imshow(contacts, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest",
                        extent=residue_extent(length))
    residue_axes(axis, length)
    axis.set_xlabel("residue (position in the sequence)")
    axis.set_ylabel("residue (position in the sequence)")
    figure.colorbar(image, ax=axis, label="predicted contact probability", shrink=0.8)
    handles = []
    if true_contacts is not None:
        rows, columns = np.nonzero(np.tril(true_contacts, k=-min_separation))
        size = float(np.clip((270.0 / length) ** 2, 5.0, 30.0))  # about one residue, never below 2.5 pt wide
        handles.append(axis.scatter(columns + 1, rows + 1, s=size, color="black", marker="o", linewidths=0))
    if secondary_structure is not None:
        _secondary_structure_track(axis, secondary_structure)
        handles += [Patch(color=SECONDARY_STRUCTURE[letter][1]) for letter in letters]
    figure.suptitle(title)
    if handles:
        bottom_legend(figure, handles, labels)
    return figure


def _secondary_structure_track(axis, secondary_structure: str) -> None:
    """Helices and strands as coloured bars, coil as a thin line, in a strip above ``axis``."""
    track = axis.inset_axes([0.0, 1.015, 1.0, 0.035], sharex=axis)
    for start, letter, run in _runs(secondary_structure):
        colour = SECONDARY_STRUCTURE[letter][1]
        height = (0.35, 0.3) if letter == "C" else (0.0, 1.0)
        track.broken_barh([(start - 0.5, run)], height, color=colour, linewidth=0)
    track.set_ylim(0, 1)
    track.set_axis_off()


def _runs(letters: str) -> list[tuple[int, str, int]]:
    """``(first residue (1-based), letter, length)`` of each run of equal letters."""
    runs = []
    for match in re.finditer(r"(.)\1*", letters):
        runs.append((match.start() + 1, match.group(1), len(match.group(0))))
    return runs


def _attention_figure(heads: dict[str, np.ndarray], protein: str, model: str):
    """A grid of attention maps, one panel per chosen head, each on its own scale (see the caller)."""
    count = len(heads)
    columns = min(count, 4)
    rows = math.ceil(count / columns)
    width = min(PAGE_WIDTH_IN, 1.6 * columns + 1.4)
    figure = plt.figure(figsize=(width, 1.75 * rows + 1.0), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    image = None
    for axis, (name, weights) in zip(axes, heads.items(), strict=False):
        length = weights.shape[0]
        scale = float(np.nanpercentile(weights, ATTENTION_SCALE_PERCENTILE)) or float(np.nanmax(weights)) or 1.0
        image = axis.imshow(weights / scale, cmap="Purples", vmin=0.0, vmax=1.0, interpolation="nearest",
                            extent=residue_extent(length))
        residue_axes(axis, length)
        axis.xaxis.set_major_locator(MaxNLocator(nbins=3, integer=True, steps=[1, 2, 5, 10]))
        axis.yaxis.set_major_locator(MaxNLocator(nbins=3, integer=True, steps=[1, 2, 5, 10]))
        axis.set_title(f"{name}\n{ATTENTION_SCALE_PERCENTILE}th percentile {scale:.2g}", fontsize=7)
    for axis in axes[count:]:
        axis.set_visible(False)
    figure.supxlabel("attended residue (key)", fontsize=8)
    figure.supylabel("attending residue (query)", fontsize=8)
    figure.colorbar(image, ax=axes[:count].tolist(), extend="max", shrink=0.8,
                    label=f"attention weight ÷ {ATTENTION_SCALE_PERCENTILE}th percentile")
    figure.suptitle(wrap_label(f"Attention maps of {protein} ({model_label(model)})", width - 0.3,
                               font_size("figure.titlesize")))
    return figure


def attention_heads(attentions: np.ndarray, layers: Sequence[int], specs: Sequence[str]) -> dict[str, np.ndarray]:
    """The maps chosen by ``specs`` from an extract output's ``attentions`` (``attention_layers`` = ``layers``).

    A spec is ``LAYER:HEAD`` (heads numbered from 0, as in the tensor), ``LAYER:FIRST-LAST``,
    ``LAYER:all`` or ``LAYER:mean`` (the heads' mean; the only choice when the file holds means).
    Returns ``{"layer 30, head 5": L x L}`` in the order given; at most ``MAX_HEAD_PANELS``.
    """
    layers = list(layers)
    averaged = attentions.ndim == 3
    chosen: dict[str, np.ndarray] = {}
    for spec in specs:
        match = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+(?:-\d+)?|all|mean)\s*", spec)
        if not match:
            raise UserError(f"--attention {spec!r}: use LAYER:HEAD, LAYER:FIRST-LAST, LAYER:all or LAYER:mean "
                            "(e.g. 30:5)")
        layer, heads = int(match.group(1)), match.group(2)
        if layer not in layers:
            raise UserError(f"--attention {spec}: the file has the attention maps of layer(s) "
                            f"{', '.join(map(str, layers))}")
        maps = attentions[layers.index(layer)].astype(np.float32)
        if heads == "mean":
            chosen[f"layer {layer}, mean of heads"] = maps if averaged else maps.mean(0)
            continue
        if averaged:
            raise UserError(f"--attention {spec}: the file holds the heads' mean only (extracted with "
                            f"--attention_heads mean): use {layer}:mean")
        first, last = ((0, maps.shape[0] - 1) if heads == "all" else
                       tuple(int(part) for part in (heads.split("-") * 2)[:2]))
        if not 0 <= first <= last < maps.shape[0]:
            raise UserError(f"--attention {spec}: layer {layer} has heads 0..{maps.shape[0] - 1}")
        for head in range(first, last + 1):
            chosen[f"layer {layer}, head {head}"] = maps[head]
    if len(chosen) > MAX_HEAD_PANELS:
        raise UserError(f"--attention chooses {len(chosen)} maps; one figure shows at most {MAX_HEAD_PANELS}")
    return chosen


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


def _attempt(notes: list[str], paths: list[Path], name: str, draw) -> None:
    """Draw one figure; a figure whose inputs are missing becomes a one-line note instead."""
    try:
        paths.extend(draw())
    except UserError as error:
        notes.append(f"skipped figure {name}: {error}")


def all_figures(per_fold: pd.DataFrame, figures_dir: str | Path, response: str = "R2_score_test",
                sampling: pd.DataFrame | None = None,
                contrast_tables: dict[str, pd.DataFrame] | None = None,
                fits: pd.DataFrame | None = None,
                method_reference: str = "mean") -> tuple[list[Path], list[str]]:
    """Every figure whose inputs exist; returns (paths written, notes on skipped figures).

    ``contrast_tables`` maps a file stem (``forest_Compression_method_esm2_150M``) to its
    contrast table. Figures comparing models use the reference compression method.
    """
    figures_dir = Path(figures_dir)
    paths: list[Path] = []
    notes: list[str] = []
    for stem, table in (contrast_tables or {}).items():
        _attempt(notes, paths, stem, lambda t=table, s=stem: forest_plot(t, figures_dir / s))
    method = preferred_method(per_fold["Compression_method"].unique(), method_reference)
    methods = per_fold["Compression_method"].nunique()
    models = sorted(per_fold["Embedding_model"].unique())
    _attempt(notes, paths, "model_size", lambda: model_size_plot(
        per_fold, figures_dir / f"model_size_{method}", response, method))
    if per_fold["dataset_size"].notna().any():
        method_fits = None if fits is None else fits[fits["Compression_method"] == method]
        _attempt(notes, paths, "datasize", lambda: datasize_plot(
            per_fold, figures_dir / f"datasize_{method}", response, method, method_fits))
    else:
        notes.append("skipped figure datasize: no dataset_size (pass --metadata-dir)")
    if methods > 1:
        for model in models:
            rows = per_fold[per_fold["Embedding_model"] == model]
            _attempt(notes, paths, f"heatmap_methods_{model}", lambda r=rows, m=model: heatmap_plot(
                r, figures_dir / f"heatmap_methods_{m}", "Compression_method", response,
                f" ({model_label(m)})"))
    else:
        notes.append("skipped figure heatmap_methods: only one compression method")
    if len(models) > 1:
        rows = per_fold[per_fold["Compression_method"] == method]
        _attempt(notes, paths, "heatmap_models", lambda: heatmap_plot(
            rows, figures_dir / f"heatmap_models_{method}", "Embedding_model", response,
            f" ({method} compression)"))
    else:
        notes.append("skipped figure heatmap_models: only one embedding model")
    if sampling is not None:
        sampling_method = preferred_method(sampling["Compression_method"].unique(),
                                           method_reference)
        _attempt(notes, paths, "learning_curves", lambda: learning_curve_plot(
            sampling, figures_dir / f"learning_curves_{sampling_method}", response,
            sampling_method))
    else:
        notes.append("skipped figure learning_curves: no learning-curve results (--sampling-dir)")
    return paths, notes
