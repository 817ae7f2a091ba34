"""The statistics stage's report: every summary, contrast, data-size fit and figure of a results tree.

It sits above :mod:`plmtransfer.stats` (the models) and :mod:`plmtransfer.plots` (the
figures), which know nothing of each other's callers: ``stats`` never imports ``plots``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from plmtransfer import plots
from plmtransfer.errors import UserError
from plmtransfer.io import write_dataframe_csv
from plmtransfer.stats import (
    check_response,
    collect_results,
    datasize_fits,
    default_model_reference,
    fit_contrasts,
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
        for method, rows in per_fold.groupby("Compression_method", sort=True):
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

    Returns (paths written, notes): notes are warnings of the fits and skipped steps.
    """
    out_dir, written, notes = Path(out_dir), [], []
    per_fold = collect_results(results_dir, metadata_dir)
    check_response(per_fold, response)
    _write(per_fold, out_dir / "per_fold.csv", written)
    _write(summarise_by(per_fold, response), out_dir / "summary_by_model_method.csv", written)
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
    return written + figures, notes + figure_notes
