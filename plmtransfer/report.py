"""The statistics stage's report: every summary, contrast, data-size fit and figure of a results tree.

It sits above :mod:`plmtransfer.stats` (the models) and :mod:`plmtransfer.plots` (the
figures), which know nothing of each other's callers: ``stats`` never imports ``plots``.
Besides the CSVs and figures it writes ``report.html``: one self-contained page (figures
inline as base64 PNG) with the tables, the run's configuration and versions, and every
warning in a box at the top, for a person to open.
"""

from __future__ import annotations

import base64
import html
import os
import platform
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from plmtransfer import plots
from plmtransfer.errors import UserError
from plmtransfer.io import atomic_open, write_dataframe_csv
from plmtransfer.stats import (
    check_response,
    collect_results,
    datasize_fits,
    default_model_reference,
    fit_contrasts,
    method_rows,
    summarise_by,
)


def safe_name(text: str) -> str:
    """A file-name-safe version of a model or method name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text))


def _write(table: pd.DataFrame, path: Path, written: list[Path]) -> None:
    """Write a table atomically and remember its path."""
    written.append(write_dataframe_csv(table, path))


def _contrast_sets(per_fold: pd.DataFrame, method_reference: str, model_reference: str | None):
    """The contrast fits a report runs: methods within each model, models within each method."""
    fits = []
    if per_fold["Compression_method"].nunique() > 1:
        for model, rows in per_fold.groupby("Embedding_model", sort=True):
            if rows["Compression_method"].nunique() > 1:
                reference = method_reference if method_reference in set(
                    rows["Compression_method"]) else sorted(rows["Compression_method"])[0]
                fits.append(("Compression_method", reference, str(model), rows))
    if per_fold["Embedding_model"].nunique() > 1:
        reference = model_reference or default_model_reference(per_fold)
        for method in sorted(per_fold["Compression_method"].unique()):
            rows = method_rows(per_fold, method)
            if rows["Embedding_model"].nunique() > 1 and reference in set(rows["Embedding_model"]):
                fits.append(("Embedding_model", reference, str(method), rows))
    return fits


def methods_by_model(per_fold: pd.DataFrame) -> pd.DataFrame:
    """One row per model: the compression methods found in its results and its number of data sets.

    Says at a glance which baseline a run produced (e.g. one-hot ``flat`` or ``mean``).
    """
    grouped = per_fold.groupby("Embedding_model", sort=True)
    return pd.DataFrame({"methods": grouped["Compression_method"].agg(lambda m: ", ".join(sorted(set(m)))),
                         "n_datasets": grouped["Dataset"].nunique()}).reset_index()


def run_report(results_dir: str | Path, out_dir: str | Path, figures_dir: str | Path,
               sampling_dir: str | Path | None = None, metadata_dir: str | Path | None = None,
               response: str = "R2_score_test", method_reference: str = "mean",
               model_reference: str | None = None, adjust: str = "single-step",
               seed: int = 0) -> tuple[list[Path], list[str]]:
    """Summaries, method and model contrasts, data-size fits and every possible figure.

    Returns (paths written, notes): the paths end with ``report.html``; notes are warnings of
    the fits and skipped steps (the page shows them too).
    """
    out_dir, written, notes = Path(out_dir), [], []
    per_fold = collect_results(results_dir, metadata_dir)
    check_response(per_fold, response)
    _write(per_fold, out_dir / "per_fold.csv", written)
    summary = summarise_by(per_fold, response)
    _write(summary, out_dir / "summary_by_model_method.csv", written)
    _write(methods_by_model(per_fold), out_dir / "methods_by_model.csv", written)
    random_models = sorted(per_fold.loc[per_fold["Random_weights"], "Embedding_model"].unique())
    if random_models:
        notes.append(f"models with RANDOM weights (test only, not results): {', '.join(random_models)}")
    contrast_tables = {}
    for factor, reference, within, rows in _contrast_sets(per_fold, method_reference,
                                                          model_reference):
        stem = f"{factor}_{safe_name(within)}"
        try:
            result = fit_contrasts(rows, response, factor, reference, adjust, seed=seed)
        except UserError as error:
            notes.append(f"skipped contrasts {stem}: {error}")
            continue
        notes += [f"contrasts {stem}: {note}" for note in result.warnings]
        table = result.contrasts.assign(within=within)
        _write(table, out_dir / f"contrasts_{stem}.csv", written)
        contrast_tables[f"forest_{stem}"] = table
    if not contrast_tables:
        notes.append("no contrasts: need at least two compression methods or two models")
    fits = None
    if per_fold["dataset_size"].notna().any():
        fits = datasize_fits(per_fold, response)
        _write(fits, out_dir / "datasize_fits.csv", written)
    else:
        notes.append("skipped data-size fits: no dataset_size (pass --metadata-dir)")
    sampling = None
    if sampling_dir is not None and Path(sampling_dir).is_dir():
        sampling = collect_results(sampling_dir, metadata_dir)
        _write(sampling, out_dir / "per_fold_sampling.csv", written)
    elif sampling_dir is not None:
        notes.append(f"skipped learning curves: {sampling_dir} not found")
    figures, figure_notes = plots.all_figures(per_fold, figures_dir, response, sampling,
                                              contrast_tables, fits, method_reference)
    configuration = {
        "results directory": results_dir, "learning-curve directory": sampling_dir,
        "metadata directory": metadata_dir, "tables directory": out_dir, "figures directory": figures_dir,
        "response": response, "reference method": method_reference,
        "reference model": model_reference or "default (onehot if present, else the smallest model)",
        "multiplicity adjustment": adjust, "seed": seed,
        "design": f"{per_fold['Dataset'].nunique()} data sets, {per_fold['Embedding_model'].nunique()} "
                  f"models, {per_fold['Compression_method'].nunique()} methods, {len(per_fold)} per-fold rows",
    }
    page = write_html_report(out_dir / "report.html", configuration, notes + figure_notes,
                             summary, contrast_tables, fits, figures, written)
    return written + figures + [page], notes + figure_notes


CONTRAST_COLUMNS = ("level", "contrast", "estimate", "std_error", "p_value", "p_adjusted", "ci_low",
                    "ci_high", "stars", "converged", "n_obs")
VERSIONED_PACKAGES = ("plmtransfer", "numpy", "pandas", "scipy", "scikit-learn", "statsmodels",
                      "matplotlib", "torch", "fair-esm")
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
.warnings { border: 3px solid #d55e00; background: #fff4e5; padding: 0.5em 1.2em; margin: 1em 0; }
.warnings h2 { margin-top: 0.3em; border: none; color: #a33c00; }
.ok { border: 1px solid #009e73; background: #eefaf5; padding: 0.5em 1.2em; }
figure { margin: 1em 0 2em; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
.scroll { overflow-x: auto; }
"""


def package_versions() -> dict[str, str]:
    """Installed versions of the packages the results depend on (``not installed`` when absent)."""
    found = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def _key_value_table(items: dict) -> str:
    """A two-column HTML table of ``items`` (values escaped)."""
    rows = "".join(f"<tr><th>{html.escape(str(key))}</th><td>{html.escape(str(value))}</td></tr>"
                   for key, value in items.items())
    return f"<table>{rows}</table>"


def _frame_table(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """A DataFrame (or the given columns of it) as an escaped, scrollable HTML table, 4 significant digits."""
    if columns is not None:
        frame = frame[[column for column in columns if column in frame]]
    table = frame.to_html(index=False, escape=True, border=0, na_rep="",
                          float_format=lambda value: f"{value:.4g}")
    return f'<div class="scroll">{table}</div>'


def _link(path: Path, page_dir: Path) -> str:
    """An ``<a>`` to ``path``, relative to the page so the folder can be moved as a whole."""
    relative = Path(os.path.relpath(path, page_dir)).as_posix()
    return f'<a href="{html.escape(relative)}">{html.escape(path.name)}</a>'


def _figure(png: Path, page_dir: Path) -> str:
    """A PNG inline as base64, captioned with its file name and links to the PNG and PDF."""
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    links = [_link(path, page_dir) for path in (png, png.with_suffix(".pdf")) if path.is_file()]
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(png.stem)}">'
            f"<figcaption>{' · '.join(links)}</figcaption></figure>")


def write_html_report(path: str | Path, configuration: dict, notes: list[str], summary: pd.DataFrame,
                      contrast_tables: dict[str, pd.DataFrame], fits: pd.DataFrame | None,
                      figures: list[Path], tables: list[Path]) -> Path:
    """Write the self-contained ``report.html``; return its path.

    Warnings (random-weight models, unbalanced designs, skipped fits and figures) sit in a box
    at the top so nobody reads the numbers without them. Figures are embedded as base64 PNG;
    the CSVs and PDFs are linked relative to the page.
    """
    path = Path(path)
    page_dir = path.parent
    warning_box = ('<div class="warnings" id="warnings"><h2>Warnings</h2><ul>'
                   + "".join(f"<li>{html.escape(note)}</li>" for note in notes) + "</ul></div>"
                   if notes else '<div class="ok" id="warnings">No warnings.</div>')
    contrast_html = "".join(
        f"<h3>{html.escape(stem.removeprefix('forest_'))}</h3>" + _frame_table(table, CONTRAST_COLUMNS)
        for stem, table in contrast_tables.items()) or "<p>No contrasts were fitted.</p>"
    fits_html = _frame_table(fits) if fits is not None else "<p>No data-size fits.</p>"
    figures_html = "".join(_figure(png, page_dir) for png in figures if png.suffix == ".png") \
        or "<p>No figures were drawn.</p>"
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>plmtransfer report</title>
<style>{STYLE}</style></head><body>
<h1>plmtransfer report: {html.escape(str(configuration.get("response", "")))}</h1>
<p>{html.escape(str(configuration.get("design", "")))}; generated {generated}.</p>
{warning_box}
<h2>Summary by model and method</h2>
<p>Mean over data sets of the per-data-set mean over outer folds, with SD and a 95% t interval.</p>
{_frame_table(summary)}
<h2>Contrasts</h2>
<p>Mixed model <code>response ~ factor + (1|Dataset) + (1|Fold)</code> (REML); each level against the
reference, with adjusted p-values and simultaneous intervals (every column: the contrasts_*.csv files below).</p>
{contrast_html}
<h2>Data-set size</h2>
{fits_html}
<h2>Figures</h2>
{figures_html}
<h2>Tables written</h2>
<ul>{"".join(f"<li>{_link(table, page_dir)}</li>" for table in tables)}</ul>
<h2>Configuration</h2>
{_key_value_table(configuration)}
<h2>Versions</h2>
{_key_value_table(package_versions())}
</body></html>
"""
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(body)
    return path
