"""The statistics stage's report: every summary, contrast, data-size fit and figure of a results tree.

It sits above :mod:`plmtransfer.analysis.stats` (the models) and :mod:`plmtransfer.analysis.figures` (the
figures, drawn from its registry ``FIGURES``), which know nothing of each other's callers: ``stats``
never imports ``figures``.
Besides the CSVs and figures it writes ``report.html``: one self-contained page (figures
inline as base64 PNG) with the tables, the run's configuration and versions, every warning in
a box at the top (each known one explained), and below it the facts a reader needs: the
baseline, what LassoCV's convergence warnings mean for the scores, the figures the design leaves
out. Models are compared with one baseline, the study's one-hot definition
(:func:`plmtransfer.analysis.stats.results_baseline`: ``flat`` on DMS), named as such everywhere.
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

from plmtransfer.analysis import figures as results_figures
from plmtransfer.analysis import layers
from plmtransfer.analysis.stats import (
    PROTOCOL,
    QUESTIONS,
    STUDY_PROTOCOL,
    add_assay_level,
    baseline_name,
    check_response,
    collect_results,
    datasize_fits,
    default_model_reference,
    disagreement_notes,
    fit_contrasts,
    informative_rows,
    method_rows,
    protocols,
    results_baseline,
    robustness_table,
    summarise_by,
    uninformative_inputs,
    uninformative_notes,
)
from plmtransfer.data.generated import GENERATED_BANNER, is_generated
from plmtransfer.errors import UserError
from plmtransfer.io import atomic_open, write_dataframe_csv
from plmtransfer.learn.regress import CONVERGED, MAX_ITER, TOL
from plmtransfer.registry import BASELINE

# What statsmodels' mixed-model warnings mean for the contrasts, said once after each occurrence
FIT_WARNING_MEANINGS = {
    "MLE may be on the boundary": ("a variance component (between data sets or between folds) was estimated at "
                                   "zero; the contrasts are still estimated, but that source of variation is not "
                                   "separated from the residual"),
    "Hessian matrix at the estimated parameter values is not positive definite": (
        "the curvature of the likelihood is degenerate (often with a zero variance component), so the standard "
        "errors, p-values and intervals of these contrasts may be unreliable: read them with the per-data-set "
        "differences"),
}


def explain_fit_warning(warning: str) -> str:
    """`` (meaning: ...)`` for a known statsmodels warning, else nothing."""
    meanings = [meaning for key, meaning in FIT_WARNING_MEANINGS.items() if key in warning]
    return f" (meaning: {meanings[0]})" if meanings else ""


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


def contrasts_stem(name: str, protocol: str) -> str:
    """The file stem of a contrasts table ``<factor>_<within>``: as it is for the study's protocol,
    ``<protocol>_<factor>_<within>`` for any other (the ``Protocol`` of its results, e.g.
    ``study+contiguous`` for the study's alpha search under contiguous outer CV)."""
    return name if protocol == STUDY_PROTOCOL else f"{safe_name(protocol)}_{name}"


def fit_all_contrasts(per_fold: pd.DataFrame, out_dir: Path, response: str, method_reference: str,
                      model_reference: str | None, adjust: str, seed: int, written: list[Path],
                      notes: list[str]) -> dict[str, pd.DataFrame]:
    """Every contrast fit of every protocol, with the assay-level statistics appended; ``forest_<stem>`` -> table.

    The study's protocol writes ``contrasts_<factor>_<within>.csv``, any other
    ``contrasts_<protocol>_<factor>_<within>.csv``: protocols are fitted apart, never pooled. Where
    the fold-level mixed model and the assay-level test disagree, a note says so in words.
    """
    tables = {}
    for protocol in protocols(per_fold):
        rows_of_protocol = per_fold[per_fold[PROTOCOL] == protocol]
        for factor, reference, within, rows in _contrast_sets(rows_of_protocol, method_reference, model_reference):
            stem = contrasts_stem(f"{factor}_{safe_name(within)}", protocol)
            try:
                result = fit_contrasts(rows, response, factor, reference, adjust, seed=seed)
            except UserError as error:
                notes.append(f"skipped contrasts {stem}: {error}")
                continue
            notes += [f"contrasts {stem}: {note}{explain_fit_warning(note)}" for note in result.warnings]
            table = add_assay_level(result.contrasts.assign(within=within, **{PROTOCOL: protocol}), rows, response,
                                    seed)
            notes += disagreement_notes(table, f"contrasts {stem}")
            if factor == "Embedding_model" and reference == BASELINE:
                table["reference_method"] = results_baseline(rows_of_protocol)
            _write(table, out_dir / f"contrasts_{stem}.csv", written)
            tables[f"forest_{stem}"] = table
    return tables


def convergence_notes(per_fold: pd.DataFrame) -> tuple[str | None, str | None]:
    """(What LassoCV's convergence warnings mean for these scores, a warning when refits stopped short).

    The regression logs count, per input file, the coordinate-descent fits that stopped at
    ``max_iter`` (scikit-learn's "Objective did not converge" warnings, one line per file, from
    :class:`plmtransfer.learn.regress.Convergence`); the per-fold results record whether the refit
    at the chosen alpha, which gives the scores, converged (column ``converged``).
    """
    if CONVERGED not in per_fold or per_fold[CONVERGED].isna().all():
        return None, None
    recorded = per_fold[per_fold[CONVERGED].notna()]
    stopped = recorded[~recorded[CONVERGED].astype(bool)]
    fact = (f"LassoCV convergence: with the study's solver settings (tol={TOL:g}, max_iter={MAX_ITER}) scikit-learn "
            "warns \"Objective did not converge ... Duality gap ...\" for every coordinate-descent fit that stops at "
            "max_iter before its duality gap reaches tol, thousands a sweep; the regression logs count them in one "
            "line per input file (\"N of M coordinate-descent fits along the alpha path stopped at max_iter ...\"). "
            "They are fits at the small alphas at the end of each inner fold's 100-alpha path, where many "
            "coefficients are free: they only set the inner-CV error by which an alpha is chosen. The scores come "
            "from the refit at the chosen alpha, which converged in "
            f"{len(recorded) - len(stopped)} of {len(recorded)} outer folds (column {CONVERGED} of per_fold.csv).")
    if stopped.empty:
        return fact, None
    jobs = stopped.groupby(["Embedding_model", "Dataset", "Compression_method"]).size()
    named = ", ".join(f"{model}/{dataset} {method} ({count})" for (model, dataset, method), count
                      in list(jobs.items())[:5]) + (f" and {len(jobs) - 5} more" if len(jobs) > 5 else "")
    return fact, (f"LassoCV: in {len(stopped)} of {len(recorded)} outer folds the refit at the chosen alpha stopped "
                  f"at max_iter={MAX_ITER} before its duality gap reached tol={TOL:g}: {named} (meaning: those "
                  "folds' scores come from an approximate solution, as the study's would under the same settings; "
                  "compare them with the other folds of the same job)")


def baseline_sentence(per_fold: pd.DataFrame) -> str | None:
    """The sentence naming the baseline every model comparison and figure uses (None without one)."""
    baseline = results_baseline(per_fold)
    if baseline is None:
        return None
    return (f"Baseline: {baseline_name(baseline)}, the study's one-hot definition (config/study.yaml, "
            f"model_defaults of {BASELINE}). The model contrasts and the model-size, model heat-map and data-size "
            f"figures compare each model's compression with it; one-hot's other methods, if any, appear in its "
            f"own method contrasts only.")


def run_report(results_dir: str | Path, out_dir: str | Path, figures_dir: str | Path,
               sampling_dir: str | Path | None = None, metadata_dir: str | Path | None = None,
               response: str = "R2_score_test", method_reference: str = "mean",
               model_reference: str | None = None, adjust: str = "single-step",
               seed: int = 0) -> tuple[list[Path], list[str]]:
    """Summaries, method and model contrasts, data-size fits and every possible figure.

    Returns (paths written, warnings): the paths end with ``report.html``; warnings are those of
    the fits and skipped steps (the page shows them, and the facts beside them).
    """
    out_dir, written, notes = Path(out_dir), [], []
    layered = collect_results(results_dir, metadata_dir)
    check_response(layered, response)
    _write(layered, out_dir / "per_fold.csv", written)
    per_fold = layers.last_layer_rows(layered)
    flagged = uninformative_inputs(per_fold, method_reference)
    if not flagged.empty:
        _write(flagged, out_dir / "uninformative_inputs.csv", written)
        notes += uninformative_notes(flagged, per_fold)
    ranked = informative_rows(per_fold, flagged)
    robustness = robustness_table(per_fold, response, method_reference, seed=seed)
    if not robustness.empty:
        _write(robustness, out_dir / "robustness.csv", written)
    summary = summarise_by(ranked, response)
    _write(summary, out_dir / "summary_by_model_method.csv", written)
    _write(methods_by_model(per_fold), out_dir / "methods_by_model.csv", written)
    random_models = sorted(per_fold.loc[per_fold["Random_weights"], "Embedding_model"].unique())
    if random_models:
        notes.append(f"models with RANDOM weights (test only, not results): {', '.join(random_models)}")
    contrast_tables = fit_all_contrasts(ranked, out_dir, response, method_reference, model_reference, adjust,
                                        seed, written, notes)
    if not contrast_tables:
        notes.append("no contrasts: need at least two compression methods or two models")
    fact, warning = convergence_notes(per_fold)
    notes += [warning] if warning else []
    facts = [note for note in (baseline_sentence(ranked), fact) if note]
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
    shown = protocols(ranked)[0]
    if len(protocols(ranked)) > 1:
        notes.append(f"figures show protocol {shown} only (the tables show every protocol)")
    layer_section = ""
    if layers.has_layer_sweep(layered):
        layer_section = layer_analysis(layered[layered[PROTOCOL] == shown], out_dir, response, seed, written)
        facts.append(layer_fact(layered, per_fold, shown))
    figures, figure_notes = results_figures.all_figures(
        ranked[ranked[PROTOCOL] == shown], figures_dir, response, sampling,
        {stem: table for stem, table in contrast_tables.items() if table[PROTOCOL].iloc[0] == shown}, fits,
        method_reference, sampling_asked=sampling_dir is not None, layered=layered[layered[PROTOCOL] == shown])
    facts += [note for note in figure_notes if isinstance(note, results_figures.Fact)]
    notes += [note for note in figure_notes if not isinstance(note, results_figures.Fact)]
    configuration = {
        "results directory": results_dir, "learning-curve directory": sampling_dir,
        "metadata directory": metadata_dir, "tables directory": out_dir, "figures directory": figures_dir,
        "response": response, "reference method": method_reference,
        "reference model": model_reference or "default (the one-hot baseline if present, else the smallest "
                                               "model)",
        "multiplicity adjustment": adjust, "seed": seed,
        "design": f"{per_fold['Dataset'].nunique()} data sets, {per_fold['Embedding_model'].nunique()} "
                  f"models, {per_fold['Compression_method'].nunique()} methods, {len(per_fold)} per-fold rows",
    }
    page = write_html_report(out_dir / "report.html", configuration, notes,
                             summary, contrast_tables, fits, figures, written, robustness=robustness,
                             uninformative=flagged,
                             title=report_title(per_fold, results_dir),
                             banner=GENERATED_BANNER if per_fold["Dataset"].map(is_generated).any() else None,
                             facts=facts, layers_section=layer_section)
    return written + figures + [page], notes


def layer_analysis(layered: pd.DataFrame, out_dir: Path, response: str, seed: int, written: list[Path]) -> str:
    """The layer sweep's tables (``layers_curves.csv``, ``layers_best_vs_last.csv``,
    ``layers_best_per_dataset.csv``; :mod:`plmtransfer.analysis.layers`) and their HTML section."""
    curves = pd.concat([layers.layer_curves(layered, column) for column in dict.fromkeys(
        (response, layers.SECOND_RESPONSE)) if column in layered], ignore_index=True)
    best = layers.best_vs_last(layered, response, seed)
    per_dataset = layers.best_layer_per_dataset(layered, response)
    for table, name in ((curves, "layers_curves"), (best, "layers_best_vs_last"),
                        (per_dataset, "layers_best_per_dataset")):
        _write(table, out_dir / f"{name}.csv", written)
    wide = per_dataset.pivot_table(index="Dataset", columns=["Embedding_model", "Compression_method"],
                                   values="best_layer", aggfunc="first")
    wide.columns = [f"{model} {method}" for model, method in wide.columns]
    sentences = "".join(f"<li>{html.escape(layers.summary_sentence(row))}</li>" for _, row in best.iterrows())
    return ('<h2 id="layers">Which layer? (layer sweep)</h2>'
            f"<p>{html.escape(LAYER_READING)}</p>"
            f'<ul class="layers">{sentences}</ul>'
            "<p>Best layer against the last (assay level):</p>" + _frame_table(best)
            + "<p>Mean over assays per layer (relative depth = layer / number of layers):</p>"
            + _frame_table(curves.drop(columns=["is_best", "is_last"]))
            + "<p>Best layer per data set (layers_best_per_dataset.csv has the scores):</p>"
            + _frame_table(wide.reset_index()))


def layer_fact(layered: pd.DataFrame, per_fold: pd.DataFrame, shown: str) -> str:
    """The note that says which layer the rest of the report reads when the results hold several."""
    deepest = layers.with_layers(per_fold).groupby("Embedding_model")[layers.LAYER].max().dropna()
    named = ", ".join(f"{model} {int(layer)}" for model, layer in deepest.items()
                      if model in layers.swept_models(layered))
    return (f"Layer sweep: the results hold several layers of {', '.join(layers.swept_models(layered))}. The "
            f"summaries, contrasts, robustness table and figures other than the layer figure use each model's "
            f"deepest layer ({named}); the section 'Which layer?' compares the layers (protocol {shown}).")


CONTRAST_COLUMNS = ("level", "contrast", "estimate", "std_error", "p_value", "p_adjusted", "ci_low",
                    "ci_high", "stars", "converged", "n_obs")
ASSAY_TABLE_COLUMNS = ("contrast", "assay_n", "assay_wins_level", "assay_wins_reference", "assay_mean_difference",
                       "assay_ci_low", "assay_ci_high", "assay_wilcoxon_p", "assay_p_adjusted", "assay_stars",
                       "agreement")
ROBUSTNESS_TABLE_COLUMNS = ("Protocol", "claim", "within", "n_assays", "wins_better", "wins_worse",
                            "mean_difference", "ci_low", "ci_high", "p_adjusted", "fold_estimate", "fold_p",
                            "verdict")
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
.facts li { margin: 0.3em 0; }
.banner { background: #d55e00; color: #fff; font-size: 1.3em; font-weight: bold; padding: 0.6em 1em; }
"""
LAYER_READING = ("A score is the mean over an assay's outer folds, averaged over the assays that hold every layer of "
                 "the model. The best layer has the highest mean over assays; it is compared with the model's deepest "
                 "layer in the results by the per-assay differences (best - last): the assays each wins, a bootstrap "
                 "95% interval of the mean difference and the Wilcoxon signed-rank test over assays, Holm-adjusted "
                 "over models. The best layer is chosen on the same assays, so its p-value favours it.")
MAX_TITLE_DATASETS = 4  # data sets named in the page title; the rest are counted


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


def _number(value: float) -> str:
    """4 significant digits, and never a negative zero (``-0.00`` reads as a finding)."""
    text = f"{value:.4g}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _frame_table(frame: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """A DataFrame (or the given columns of it) as an escaped, scrollable HTML table, 4 significant digits.

    Columns with one value in every row are left out of the table and stated once above it, so
    that wide tables fit the page.
    """
    if columns is not None:
        frame = frame[[column for column in columns if column in frame]]
    constant = [column for column in frame.columns if len(frame) > 1 and frame[column].nunique(dropna=False) == 1]
    note = ""
    if constant and len(constant) < len(frame.columns):
        values = ", ".join(f"{column} = {_cell_text(frame[column].iloc[0])}" for column in constant)
        note = f'<p class="constant">Every row: {html.escape(values)}.</p>'
        frame = frame.drop(columns=constant)
    table = frame.to_html(index=False, escape=True, border=0, na_rep="", float_format=_number)
    return f'{note}<div class="scroll">{_breakable_headers(table)}</div>'


def _breakable_headers(table: str) -> str:
    """Column headers that may wrap after each ``_`` (``slope_per_log10_size``), so wide tables fit the page."""
    return re.sub(r"(<th[^>]*>)([^<]*)(</th>)",
                  lambda found: found.group(1) + found.group(2).replace("_", "_<wbr>") + found.group(3), table)


def datasize_html(fits: pd.DataFrame | None) -> str:
    """The data-size fits: the fitted groups' table, and why the others have no line."""
    if fits is None:
        return "<p>No data-size fits.</p>"
    unfitted = fits[fits["no_fit_reason"] != ""]
    groups = unfitted.groupby("no_fit_reason", sort=True)
    reasons = "".join(f"<li>{html.escape(str(reason))}: " + html.escape(", ".join(
        f"{row.Embedding_model} {row.Compression_method}" for row in group.itertuples())) + "</li>"
        for reason, group in groups)
    fitted = fits[fits["no_fit_reason"] == ""].drop(columns="no_fit_reason")
    return ((_frame_table(fitted) if not fitted.empty else "")
            + (f"<p>No line against size (slope per tenfold more rows) for:</p><ul>{reasons}</ul>" if reasons else ""))


def _cell_text(value) -> str:
    """A table value as text (numbers as in the tables)."""
    return _number(value) if isinstance(value, float) else str(value)


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


def report_title(per_fold: pd.DataFrame, results_dir: str | Path) -> str:
    """The page's title: the study's question, the data-set family (the results folder) and its data sets."""
    datasets = sorted(per_fold["Dataset"].unique())
    shown = ", ".join(datasets[:MAX_TITLE_DATASETS]) + (
        f" and {len(datasets) - MAX_TITLE_DATASETS} more" if len(datasets) > MAX_TITLE_DATASETS else "")
    return (f"Transfer learning from pLM embeddings: {Path(results_dir).name}, {len(datasets)} data "
            f"set{'s' if len(datasets) != 1 else ''} ({shown})")


def contrast_section(stem: str, table: pd.DataFrame) -> str:
    """One contrast fit: its fold-level (mixed model) table, then its assay-level table and, in words,
    where the two disagree."""
    name = stem.removeprefix("forest_")
    assay = ""
    if "assay_n" in table:
        disagreements = "".join(f"<li>{html.escape(note)}</li>" for note in disagreement_notes(table, name))
        assay = (f"<p>Assay level:</p>{_frame_table(table, ASSAY_TABLE_COLUMNS)}"
                 + (f'<ul class="disagreement">{disagreements}</ul>' if disagreements else ""))
    return (f"<h3>{html.escape(name)}</h3>"
            f"<p>{html.escape(results_figures.forest_title(table.iloc[0]))}.</p>"
            "<p>Fold level (mixed model, the study's):</p>"
            + _frame_table(table, CONTRAST_COLUMNS) + assay)


def verdict_sentence(rows: pd.DataFrame) -> str:
    """``holds on 2, reverses on 0, not significant on 1 of 3 comparisons`` for one question and protocol."""
    counts = rows["verdict"].value_counts()
    parts = [f"{verdict} on {int(counts.get(verdict, 0))}" for verdict in ("holds", "reverses", "not significant")]
    return f"{', '.join(parts)} of {len(rows)} comparison{'s' if len(rows) != 1 else ''}"


def robustness_html(robustness: pd.DataFrame | None) -> str:
    """The section that opens the results: each of the study's claims under each protocol, with a verdict."""
    if robustness is None or robustness.empty:
        return ""
    parts = ['<h2 id="robustness">Do the study\'s conclusions hold? (robustness)</h2>',
             "<p>Each claim under every protocol of the results: the mean over assays of the per-assay difference "
             "(better - worse; per assay the mean over its outer folds) with a bootstrap 95% interval, the assays "
             "each side wins, the Wilcoxon signed-rank test over assays (Holm-adjusted within the question and "
             "protocol) and the verdict from it: <b>holds</b> / <b>reverses</b> (significant at 0.05 for or "
             "against the claim) / <b>not significant</b>. fold_estimate and fold_p: the study's mixed model on the "
             "two levels alone (fold level, unadjusted).</p>"]
    for question, rows in robustness.groupby("question", sort=False):
        parts.append(f"<h3>{html.escape(QUESTIONS.get(question, question))}</h3><ul>")
        parts += [f"<li>{html.escape(str(protocol))}: {html.escape(verdict_sentence(group))}</li>"
                  for protocol, group in rows.groupby(PROTOCOL, sort=False)]
        parts.append("</ul>" + _frame_table(rows, ROBUSTNESS_TABLE_COLUMNS))
    return "".join(parts)


def uninformative_html(uninformative: pd.DataFrame | None) -> str:
    """The inputs named and left out of contrasts and rankings: constant, or the same as another method."""
    if uninformative is None or uninformative.empty:
        return ""
    grouped = uninformative.groupby(["Embedding_model", "Compression_method", "note"], sort=True)["Dataset"]
    items = "".join(f"<li><b>{html.escape(method)}</b> ({html.escape(model)}): {html.escape(note)} "
                    f"({datasets.nunique()} data set{'s' if datasets.nunique() != 1 else ''})</li>"
                    for (model, method, note), datasets in grouped)
    return ('<h2 id="uninformative">Methods that carry no information of their own</h2>'
            "<p>Decided per data set from the features (regression stage: feature_sd_max, feature_signature); "
            "left out of the contrasts, rankings and robustness table, kept in per_fold.csv "
            "(uninformative_inputs.csv lists every data set).</p>"
            f"<ul>{items}</ul>")


def write_html_report(path: str | Path, configuration: dict, notes: list[str], summary: pd.DataFrame,
                      contrast_tables: dict[str, pd.DataFrame], fits: pd.DataFrame | None,
                      figures: list[Path], tables: list[Path], title: str = "plmtransfer report",
                      banner: str | None = None, robustness: pd.DataFrame | None = None,
                      uninformative: pd.DataFrame | None = None, facts: Sequence[str] = (),
                      layers_section: str = "") -> Path:
    """Write the self-contained ``report.html``; return its path.

    A ``banner`` (generated data) opens the page above everything; warnings (random-weight
    models, unbalanced designs, skipped fits and figures) sit in a box at the top so nobody
    reads the numbers without them; the ``facts`` (the baseline, what the solver's convergence
    warnings mean, figures the design leaves out) follow it. The robustness of the study's claims
    (:func:`robustness_html`) opens the results, and the inputs left out as uninformative are named;
    ``layers_section`` (:func:`layer_analysis`, a layer sweep) follows the summary.
    Figures are embedded as base64 PNG; the CSVs and PDFs are linked relative to the page.
    """
    path = Path(path)
    page_dir = path.parent
    warning_box = ('<div class="warnings" id="warnings"><h2>Warnings</h2><ul>'
                   + "".join(f"<li>{html.escape(note)}</li>" for note in notes) + "</ul></div>"
                   if notes else '<div class="ok" id="warnings">No warnings.</div>')
    contrast_html = "".join(contrast_section(stem, table) for stem, table in contrast_tables.items()) \
        or "<p>No contrasts were fitted.</p>"
    fits_html = datasize_html(fits)
    facts_html = ('<h2>Notes</h2><ul class="facts" id="facts">'
                  + "".join(f"<li>{html.escape(fact)}</li>" for fact in facts) + "</ul>") if facts else ""
    figures_html = "".join(_figure(png, page_dir) for png in figures if png.suffix == ".png") \
        or "<p>No figures were drawn.</p>"
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body>
{f'<div class="banner" id="banner">{html.escape(banner)}</div>' if banner else ""}
<h1>{html.escape(title)}</h1>
<p>{html.escape(str(configuration.get("design", "")))}; generated {generated}.</p>
{warning_box}
{facts_html}
{robustness_html(robustness)}
{uninformative_html(uninformative)}
<h2>Summary by model and method</h2>
<p>Mean over data sets of the per-data-set mean over outer folds, with SD and a 95% t interval.</p>
{_frame_table(summary)}
{layers_section}
<h2>Contrasts</h2>
<p>Fold level (the study's): mixed model <code>response ~ factor + (1|Dataset) + (1|Fold)</code> (REML); each
level against the reference, with adjusted p-values and simultaneous intervals. Its p-values count every outer
fold as an observation. Assay level: one value per assay (the mean over its outer folds), the assays where each
side wins, the Wilcoxon signed-rank test over assays (Holm-adjusted) and a bootstrap 95% interval of the mean
difference (every column: the contrasts_*.csv files below).</p>
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
