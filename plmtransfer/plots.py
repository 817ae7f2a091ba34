"""Publication figures from the tidy per-fold results and the statistics tables.

Every figure is written as PNG (200 dpi) and PDF, uses the Okabe-Ito colour-blind-safe
palette (viridis for heat maps), says in its title what it shows, labels its axes with units
and is sized for a journal column or page. Models with random (untrained) weights are labelled
``[random weights]`` wherever they appear: their scores carry no biology.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from plmtransfer.errors import UserError  # noqa: E402
from plmtransfer.io import atomic_path  # noqa: E402
from plmtransfer.stats import dataset_means, datasize_fits, mean_ci, model_info  # noqa: E402

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
             "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
DPI = 200
PAGE_WIDTH_IN = 7.0
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
    """Tick label of a count: 300, 2k, 8M, 3B."""
    for factor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:g}{suffix}"
    return f"{value:g}"


def log_count_axis(axis) -> None:
    """Log-scaled x axis of counts with readable ticks at 1, 2, 5 x 10^k and no minor labels."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_xscale("log")
    axis.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.xaxis.set_major_formatter(FuncFormatter(human_count))
    axis.xaxis.set_minor_formatter(NullFormatter())


def colour(index: int) -> str:
    """The ``index``-th palette colour (cycling)."""
    return OKABE_ITO[index % len(OKABE_ITO)]


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


def grid(count: int, max_columns: int = 3, panel_height: float = 2.4):
    """A figure with ``count`` panels in rows of at most ``max_columns``; unused axes hidden."""
    columns = min(count, max_columns)
    rows = math.ceil(count / columns)
    width = min(PAGE_WIDTH_IN, 2.6 * columns + 0.8)
    figure, axes = plt.subplots(rows, columns, figsize=(width, panel_height * rows + 0.6),
                                squeeze=False, constrained_layout=True)
    flat = axes.ravel()
    for axis in flat[count:]:
        axis.set_visible(False)
    return figure, flat[:count]


# --------------------------------------------------------------------------- (a) forest plot


def forest_plot(contrasts: pd.DataFrame, stem: str | Path, title: str | None = None) -> list[Path]:
    """Contrasts vs the reference with their intervals and stars, ordered by estimate."""
    if contrasts.empty:
        raise UserError("no contrasts to plot")
    apply_style()
    table = contrasts.sort_values("estimate", kind="stable").reset_index(drop=True)
    first = table.iloc[0]
    figure, axis = plt.subplots(figsize=(PAGE_WIDTH_IN * 0.65, 2.0 + 0.3 * len(table)),
                                constrained_layout=True)
    y = np.arange(len(table))
    significant = (table["p_adjusted"] < 0.05).to_numpy()
    for flag, marker_colour in ((True, OKABE_ITO[3]), (False, OKABE_ITO[0])):
        rows = table[significant == flag]
        if rows.empty:
            continue
        axis.errorbar(rows["estimate"], y[significant == flag],
                      xerr=[rows["estimate"] - rows["ci_low"], rows["ci_high"] - rows["estimate"]],
                      fmt="o", color=marker_colour, ecolor=marker_colour, capsize=2, markersize=4,
                      label="adjusted p < 0.05" if flag else "adjusted p ≥ 0.05")
    axis.axvline(0, color="0.4", linewidth=0.8, linestyle="--")
    span = max(table["ci_high"].max(), 0) - min(table["ci_low"].min(), 0)
    for row_y, (_, row) in zip(y, table.iterrows(), strict=True):
        axis.text(row["ci_high"] + 0.02 * span, row_y, row["stars"], va="center", fontsize=8)
    axis.set_xlim(min(table["ci_low"].min(), 0) - 0.05 * span,
                  max(table["ci_high"].max(), 0) + 0.12 * span)
    axis.set_yticks(y, [model_label(str(level)) for level in table["level"]])
    axis.set_ylim(-0.7, len(table) - 0.3)
    reference = first["reference"]
    factor = str(first["factor"]).replace("_", " ").lower()
    axis.set_xlabel(f"difference in {metric_label(first['response'])} vs {reference}")
    axis.set_ylabel(factor)
    ci = f"{first['ci_level']:.0%} {'simultaneous ' if first['adjust'] != 'none' else ''}CI"
    axis.set_title(title or (f"{short_metric(first['response'])}: each {factor} − "
                             f"{model_label(str(reference))}\n(mixed model, "
                             f"{first['adjust']} adjustment, {ci})"))
    figure.legend(loc="outside lower center", frameon=False, ncol=2,
                  title="adjusted p: *** < 0.001, ** < 0.01, * < 0.05, . < 0.1", title_fontsize=7)
    return save_figure(figure, stem)


# --------------------------------------------------------------------------- (b) model size


def model_size_plot(per_fold: pd.DataFrame, stem: str | Path, response: str = "R2_score_test",
                    method: str | None = None) -> list[Path]:
    """Score per model against parameter count (log axis), one panel per model family.

    Grey points are data sets (mean over folds); black points the mean over data sets with its
    95% t interval. The one-hot baseline (no parameters) is a dashed line in every panel.
    """
    apply_style()
    frame = _one_method(per_fold, method)
    means = dataset_means(frame, response, ["Embedding_model"])
    baseline = means[means["Embedding_model"] == "onehot"][response]
    sized = means[means["Parameters"].fillna(0) > 0]
    if sized.empty:
        raise UserError("no model with a known parameter count to plot against size")
    panel = sized["Model_family"].astype(str).where(
        ~sized["Random_weights"].astype(bool), sized["Model_family"].astype(str) + " [random weights]")
    families = sorted(panel.unique())
    figure, axes = grid(len(families))
    for axis, family in zip(axes, families, strict=True):
        rows = sized[panel == family]
        axis.scatter(rows["Parameters"], rows[response], s=9, color="0.6", alpha=0.7,
                     label="data set (mean of folds)", zorder=2)
        summary = []
        for parameters, group in rows.groupby("Parameters"):
            mean, _, low, high = mean_ci(group[response].to_numpy())
            summary.append((parameters, mean, low, high))
        summary = np.array(summary, dtype=float)
        axis.errorbar(summary[:, 0], summary[:, 1],
                      yerr=[summary[:, 1] - np.nan_to_num(summary[:, 2], nan=summary[:, 1]),
                            np.nan_to_num(summary[:, 3], nan=summary[:, 1]) - summary[:, 1]],
                      fmt="o-", color="black", capsize=2, markersize=4,
                      label="mean over data sets ± 95% CI", zorder=3)
        if not baseline.empty:
            axis.axhline(baseline.mean(), color=OKABE_ITO[1], linestyle="--", linewidth=1,
                         label="one-hot baseline (mean)")
        log_count_axis(axis)
        axis.set_xlabel("model parameters (count, log scale)")
        axis.set_ylabel(metric_label(response))
        axis.set_title(family)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False)
    figure.suptitle(f"{short_metric(response)} against model size"
                    f"{f' ({method} compression)' if method else ''}")
    return save_figure(figure, stem)


# --------------------------------------------------------------------------- (c) learning curves


def learning_curve_plot(sampling: pd.DataFrame, stem: str | Path, response: str = "R2_score_test",
                        method: str | None = None, max_panels: int = 12) -> list[Path]:
    """Score against training-sample size (log axis): one line per model, one panel per data set.

    Points are the mean over folds, bars one standard deviation over folds.
    """
    if "Sample_size" not in sampling:
        raise UserError("learning curves need a Sample_size column (results/lassoCV_sampling/...)")
    apply_style()
    frame = _one_method(sampling, method)
    datasets = sorted(frame["Dataset"].unique())[:max_panels]
    models = sorted(frame["Embedding_model"].unique())
    figure, axes = grid(len(datasets))
    for axis, dataset in zip(axes, datasets, strict=True):
        for index, model in enumerate(models):
            rows = frame[(frame["Dataset"] == dataset) & (frame["Embedding_model"] == model)]
            if rows.empty:
                continue
            curve = rows.groupby("Sample_size")[response].agg(["mean", "std"]).reset_index()
            axis.errorbar(curve["Sample_size"], curve["mean"], yerr=curve["std"].fillna(0),
                          marker=MARKERS[index % len(MARKERS)], markersize=3, capsize=2,
                          color=colour(index), label=model_label(model))
        log_count_axis(axis)
        axis.set_title(dataset)
    figure.supxlabel("training sample size (sequences, log scale)", fontsize=8)
    figure.supylabel(metric_label(response), fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right center", frameon=False, title="model")
    figure.suptitle(f"Learning curves: {short_metric(response)} against training-set size "
                    f"(mean ± SD over folds{f', {method} compression' if method else ''})")
    return save_figure(figure, stem)


# --------------------------------------------------------------------------- (d) data size


def datasize_plot(per_fold: pd.DataFrame, stem: str | Path, response: str = "R2_score_test",
                  method: str | None = None, fits: pd.DataFrame | None = None) -> list[Path]:
    """Per-data-set mean score against data-set size (log axis) with each model's OLS line."""
    apply_style()
    frame = _one_method(per_fold, method)
    if fits is None:
        fits = datasize_fits(frame, response)
    means = dataset_means(frame, response, ["Embedding_model"]).dropna(subset=["dataset_size"])
    height = 2.8 + 0.15 * math.ceil(means["Embedding_model"].nunique() / 2)
    figure, axis = plt.subplots(figsize=(PAGE_WIDTH_IN * 0.75, height), constrained_layout=True)
    for index, (model, rows) in enumerate(means.groupby("Embedding_model", sort=True)):
        axis.scatter(rows["dataset_size"], rows[response], s=12, color=colour(index),
                     marker=MARKERS[index % len(MARKERS)], alpha=0.8)
        fit = fits[fits["Embedding_model"] == model]
        label = model_label(str(model))
        if not fit.empty and np.isfinite(fit["slope_per_log10_size"].iloc[0]):
            slope, intercept = fit["slope_per_log10_size"].iloc[0], fit["intercept"].iloc[0]
            x = np.geomspace(rows["dataset_size"].min(), rows["dataset_size"].max(), 50)
            axis.plot(x, intercept + slope * np.log10(x), color=colour(index))
            label += f" (slope {slope:+.3f}/decade, n={int(fit['n_datasets'].iloc[0])})"
        axis.plot([], [], color=colour(index), marker=MARKERS[index % len(MARKERS)], label=label)
    log_count_axis(axis)
    axis.set_xlabel("data-set size (rows, log scale)")
    axis.set_ylabel(f"mean {metric_label(response)} over folds")
    axis.set_title(f"Mean {short_metric(response)} against data-set size, lines: OLS on "
                   f"log10(size){f' ({method} compression)' if method else ''}")
    figure.legend(loc="outside lower center", frameon=False, ncol=2)
    return save_figure(figure, stem)


# --------------------------------------------------------------------------- (e) heat map


def heatmap_plot(per_fold: pd.DataFrame, stem: str | Path, columns: str = "Compression_method",
                 response: str = "R2_score_test", title_context: str = "") -> list[Path]:
    """Data set x ``columns`` heat map of the mean score over folds (viridis, values printed).

    Rows are sorted by their mean so that easy and hard data sets group together.
    """
    apply_style()
    table = per_fold.groupby(["Dataset", columns])[response].mean().unstack(columns)
    table = table.loc[table.mean(axis=1).sort_values(ascending=False).index]
    labels = [model_label(str(c)) if columns == "Embedding_model" else str(c) for c in table.columns]
    height = min(9.0, 2.2 + 0.22 * len(table))
    width = min(PAGE_WIDTH_IN, 3.6 + 0.55 * len(table.columns))
    figure, axis = plt.subplots(figsize=(width, height), constrained_layout=True)
    image = axis.imshow(table.to_numpy(), aspect="auto", cmap="viridis", interpolation="nearest")
    axis.set_xticks(np.arange(len(labels)), labels, rotation=45, ha="right")
    axis.set_yticks(np.arange(len(table)), table.index)
    if table.size <= 400:
        limits = np.nanmin(table.to_numpy()), np.nanmax(table.to_numpy())
        middle = (limits[0] + limits[1]) / 2
        for (row, column), value in np.ndenumerate(table.to_numpy()):
            if np.isfinite(value):
                axis.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=6,
                          color="black" if value > middle else "white")
    axis.spines[:].set_visible(False)
    figure.colorbar(image, ax=axis, label=f"mean {metric_label(response)}")
    axis.set_xlabel(columns.replace("_", " ").lower())
    axis.set_ylabel("data set")
    context = title_context.strip()
    axis.set_title(f"Mean {short_metric(response)} over folds per data set and "
                   f"{columns.replace('_', ' ').lower()}" + (f"\n{context}" if context else ""))
    return save_figure(figure, stem)


def _one_method(frame: pd.DataFrame, method: str | None) -> pd.DataFrame:
    """Rows of one compression method (required when the results hold several)."""
    if method is not None:
        rows = frame[frame["Compression_method"] == method]
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
