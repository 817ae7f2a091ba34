"""The figures' layout toolkit: style, labels, axes, legends, pages and saving.

Every figure (:mod:`plmtransfer.analysis.figures`, :mod:`plmtransfer.analysis.maps`) is written as
PNG (200 dpi) and PDF, uses the Okabe-Ito colour-blind-safe palette (viridis for heat maps), says
in its title what it shows, labels its axes with units and is sized for a journal column or page.
Models with random (untrained) weights are labelled ``[random weights]`` wherever they appear:
their scores carry no biology.

The toolkit makes every figure read on its own (``tests/test_figure_layout.py`` checks that no two
text elements overlap and that all text lies inside the figure, on the study's longest names and
largest level counts):

- long names wrap at spaces or after ``_`` to the width they have, in lines of even length, so
  that no title ends in a lone word (:func:`wrap_label`);
- no number reads ``-0.00``: cell values (:func:`plain_number`) and every linear axis's tick labels
  (:func:`tidy_numbers`, applied by :func:`save_figure`) drop the sign of a zero;
- log axes of counts tick at 10^k (every decade, or every second or third one when
  crowded), then at given anchors (the smallest training size), then, on short ranges only,
  at 2 and 5 x 10^k, keeping a tick only where its label has room (:class:`ReadableLogLocator`);
- an R² axis or colour scale covers the informative part (:func:`informative_range`): its lower
  end is the smaller of ``R2_FLOOR`` (-0.5) and the lowest value a reader compares, never below
  the lowest value drawn; values below it are drawn as ▼ on the lower edge (:func:`mark_below`)
  and counted, with the lowest, under the panel (:func:`below_note`);
- legends take as many columns as fit the figure's width (:func:`bottom_legend`); more than
  eight levels get distinct colour + marker + line-style combinations (:func:`line_style`);
- figures of many panels or rows go onto further pages, ``<stem>_page1``, ``<stem>_page2``, ...
  (:func:`pages`, :func:`page_stem`).
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
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.textpath import text_to_path  # noqa: E402
from matplotlib.ticker import FuncFormatter, Locator, NullFormatter, ScalarFormatter  # noqa: E402

from plmtransfer.analysis.stats import model_info  # noqa: E402
from plmtransfer.io import atomic_path  # noqa: E402

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
LINE_STYLES = ("-", "--", ":", "-.")
DPI = 200
PAGE_WIDTH_IN = 7.0
R2_FLOOR = -0.5
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
    """``text`` broken into lines at most ``width_in`` wide where it can be, of even length.

    Lines break at spaces, or after ``_`` inside long names (``MTH3_HAEAESTABILIZED_`` /
    ``Tawfik2015``); one piece wider than the width stays whole. Each paragraph takes as few
    lines as the width allows, at the narrowest width that keeps that count, so the lines are
    balanced and the last one is not a lone word.
    """
    lines = []
    for paragraph in str(text).split("\n"):
        pieces = list(filter(None, re.split(r"(?<=[ _])", paragraph)))
        greedy = _greedy_lines(pieces, width_in * 72, size)
        low = max((text_width_pt(piece.rstrip(), size) for piece in pieces), default=0.0)
        high = max((text_width_pt(line, size) for line in greedy), default=0.0)
        while high - low > 0.5:  # the narrowest width with as few lines: bisection to half a point
            middle = (low + high) / 2
            low, high = (low, middle) if len(_greedy_lines(pieces, middle, size)) <= len(greedy) else (middle, high)
        lines += _greedy_lines(pieces, high, size) if len(greedy) > 1 else greedy
    return "\n".join(lines)


def _greedy_lines(pieces: Sequence[str], limit_pt: float, size: float) -> list[str]:
    """``pieces`` filled into lines at most ``limit_pt`` wide (one piece wider stays whole)."""
    lines, line = [], ""
    for piece in pieces:
        if line and text_width_pt((line + piece).rstrip(), size) > limit_pt:
            lines.append(line.rstrip())
            line = piece
        else:
            line += piece
    return [*lines, line.rstrip()]


def plain_number(value: float, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, never as a negative zero (``-0.00`` reads as a finding)."""
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


class PlainScalarFormatter(ScalarFormatter):
    """Matplotlib's linear tick labels without the sign of a zero (``−0.0`` at a tick of -1e-17)."""

    def __call__(self, x, pos=None):
        """The tick label of ``x``, a zero unsigned."""
        text = super().__call__(x, pos)
        unsigned = text.lstrip("-\N{MINUS SIGN}")
        return unsigned if unsigned.strip("0.") == "" else text


def tidy_numbers(figure) -> None:
    """Give every linear axis of ``figure`` (colour bars included) :class:`PlainScalarFormatter`."""
    for axis in figure.get_axes():
        for which in (axis.xaxis, axis.yaxis):
            if type(which.get_major_formatter()) is ScalarFormatter:
                which.set_major_formatter(PlainScalarFormatter())


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


def finite(values) -> np.ndarray:
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
    shown, focus = finite(shown), finite(focus)
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
    values = finite(values)
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
    values = finite(values)
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
    """Tidy the tick labels (:func:`tidy_numbers`), then write the figure (:func:`write_figure`)."""
    tidy_numbers(figure)
    return write_figure(figure, stem)


def write_figure(figure, stem: str | Path) -> list[Path]:
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
