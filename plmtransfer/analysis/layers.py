"""Which layer transfers best: per-fold results of a layer sweep, by relative depth, best layer against the last.

A result's layer is its ``Layer`` column, else the layer its file name states
(``embed_layer_<L>_<method>.csv``: :func:`plmtransfer.analysis.stats.stem_layer`), else the model's
last layer (the one the study extracts, :attr:`plmtransfer.registry.ModelSpec.last_layer`). A
model's number of layers is its registry entry's ``layers``; a model the registry does not know
(a random test model) takes its deepest layer in the results. Relative depth is layer / number
of layers: 0 is the token embedding (where a backend offers it), 1 the last layer.

Scores are the study's: per assay the mean over its outer folds, then the mean over assays. A
model's curve uses the assays that hold every one of its layers, so that each point averages the
same assays. The best layer is the one with the highest mean over assays (the shallower of equal
ones); it is compared with the model's deepest layer in the results (its last layer in a full
sweep) by the assay-level statistics of :mod:`plmtransfer.analysis.stats` (paired per-assay
differences, wins, bootstrap CI, Wilcoxon signed-rank test, Holm over models). The best layer is
chosen on the same assays it is tested on, so its p-value favours it: a screening, not a
confirmation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from plmtransfer.analysis.stats import (
    LAYER,
    assay_level_test,
    dataset_means,
    holm,
    mean_ci,
    paired_assay_differences,
    significance_stars,
)
from plmtransfer.errors import UserError
from plmtransfer.registry import find_spec

LAYERS = "Layers"  # the model's number of layers
DEPTH = "Relative_depth"  # layer / number of layers
SECOND_RESPONSE = "rho_score_test"  # the layer figure's second panel (Spearman)
KEYS = ["Embedding_model", "Compression_method"]
CURVE_COLUMNS = [*KEYS, LAYER, LAYERS, DEPTH, "response", "n_datasets", "mean", "sd", "ci_low", "ci_high",
                 "is_best", "is_last"]
BEST_COLUMNS = [*KEYS, LAYERS, "response", "best_layer", "best_depth", "last_layer", "best_mean", "last_mean",
                "assay_n", "assay_wins_level", "assay_wins_reference", "assay_mean_difference", "assay_ci_low",
                "assay_ci_high", "assay_wilcoxon_p", "assay_p_adjusted", "assay_stars"]
PER_DATASET_COLUMNS = [*KEYS, "Dataset", LAYERS, "response", "best_layer", "best_score", "last_layer",
                       "last_score", "best_minus_last"]


def with_layers(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``Layer`` filled (the model's last layer where a result names none), ``Layers`` and
    ``Relative_depth``; rows whose layer stays unknown (a model outside the registry, no layer named) keep NaN."""
    frame = frame.copy()
    specs = {model: find_spec(str(model)) for model in frame["Embedding_model"].unique()}
    last = frame["Embedding_model"].map(lambda model: specs[model].last_layer if specs[model] else math.nan)
    named = pd.to_numeric(frame[LAYER], errors="coerce") if LAYER in frame else pd.Series(math.nan, frame.index)
    frame[LAYER] = named.fillna(last).astype(float)
    deepest = frame.groupby("Embedding_model")[LAYER].transform("max")
    registered = frame["Embedding_model"].map(lambda model: specs[model].layers if specs[model] else math.nan)
    frame[LAYERS] = registered.astype(float).fillna(deepest)
    frame[DEPTH] = frame[LAYER] / frame[LAYERS]
    return frame


def swept_models(frame: pd.DataFrame) -> list[str]:
    """The models whose results hold more than one layer (of one compression method), sorted."""
    layered = with_layers(frame)
    counts = layered.groupby(KEYS)[LAYER].nunique()
    return sorted({str(model) for (model, _), count in counts.items() if count > 1})


def has_layer_sweep(frame: pd.DataFrame) -> bool:
    """Whether the results hold more than one layer of some model and method."""
    return bool(swept_models(frame))


def require_one_layer(frame: pd.DataFrame, what: str) -> None:
    """Fail when the results hold several layers of a model: ``what`` (a mixed model, data-size fits) would pool
    them; the user picks one with ``--where Layer=L`` (the report compares the layers)."""
    swept = swept_models(frame)
    if swept:
        raise UserError(f"the results hold several layers of {', '.join(swept)}; {what} would pool them: choose "
                        "one with --where Layer=L (scripts/stats.py report compares the layers)")


def last_layer_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of each model's deepest layer in the results (the study's layer in a full sweep), with the
    frame's own columns; the frame itself when it holds one layer per model. What every analysis that
    compares models or methods reads, so that a layer sweep never pools layers."""
    if not has_layer_sweep(frame):
        return frame
    layered = with_layers(frame)
    deepest = layered.groupby("Embedding_model")[LAYER].transform("max")
    keep = layered[LAYER].isna() | (layered[LAYER] == deepest)
    return frame.loc[keep.to_numpy()]


def assay_scores(frame: pd.DataFrame, response: str) -> pd.DataFrame:
    """Per swept model, method, layer and assay: the mean over outer folds, on the assays that hold every
    layer of that model and method (``Layer`` as an integer)."""
    layered = with_layers(frame)
    layered = layered[layered["Embedding_model"].isin(swept_models(frame)) & layered[LAYER].notna()]
    scores = dataset_means(layered, response, [*KEYS, LAYER, LAYERS]).dropna(subset=[response])
    scores[LAYER] = scores[LAYER].astype(int)
    layers_per_key = scores.groupby(KEYS)[LAYER].transform("nunique")
    layers_per_assay = scores.groupby([*KEYS, "Dataset"])[LAYER].transform("nunique")
    scores = scores[layers_per_assay == layers_per_key].copy()
    scores[DEPTH] = scores[LAYER] / scores[LAYERS]
    return scores.reset_index(drop=True)


def layer_curves(frame: pd.DataFrame, response: str = "R2_score_test", level: float = 0.95) -> pd.DataFrame:
    """Per swept model, method and layer: relative depth, number of assays, mean over assays, SD, t interval,
    and whether the layer is the best (:func:`best_layer`) or the last (deepest) one."""
    scores = assay_scores(frame, response)
    rows = []
    for (model, method, layer), group in scores.groupby([*KEYS, LAYER], sort=True):
        mean, sd, low, high = mean_ci(group[response].to_numpy(), level)
        rows.append({"Embedding_model": model, "Compression_method": method, LAYER: int(layer),
                     LAYERS: group[LAYERS].iloc[0], DEPTH: group[DEPTH].iloc[0], "response": response,
                     "n_datasets": len(group), "mean": mean, "sd": sd, "ci_low": low, "ci_high": high})
    curves = pd.DataFrame(rows, columns=CURVE_COLUMNS[:-2])
    best = curves.groupby(KEYS, group_keys=False)["mean"].transform(lambda means: means.index == best_layer(means))
    curves["is_best"] = best.astype(bool) if len(curves) else pd.Series(dtype=bool)
    curves["is_last"] = curves[LAYER] == curves.groupby(KEYS)[LAYER].transform("max")
    return curves[CURVE_COLUMNS]


def best_layer(means: pd.Series):
    """The index of the highest mean (the first, i.e. the shallowest, of equal ones; NaN never wins)."""
    values = means.to_numpy(dtype=float)
    return means.index[int(np.nanargmax(values))] if np.isfinite(values).any() else None


def best_vs_last(frame: pd.DataFrame, response: str = "R2_score_test", seed: int = 0,
                 level: float = 0.95) -> pd.DataFrame:
    """Per swept model and method: its best layer against its last, over assays.

    The assay-level columns are :func:`plmtransfer.analysis.stats.assay_level_test`'s for the
    per-assay differences best - last (``assay_wins_level``: assays where the best layer scores
    higher); Wilcoxon p-values are Holm-adjusted over the rows. When the last layer is the best, the
    difference is zero on every assay and there is no test.
    """
    scores = assay_scores(frame, response)
    curves = layer_curves(frame, response, level)
    rows = []
    for (model, method), curve in curves.groupby(KEYS, sort=True):
        best = curve.loc[curve["is_best"]].iloc[0]
        last = curve.loc[curve["is_last"]].iloc[0]
        own = scores[(scores["Embedding_model"] == model) & (scores["Compression_method"] == method)]
        differences = paired_assay_differences(own, response, LAYER, str(int(best[LAYER])), str(int(last[LAYER])))
        rows.append({"Embedding_model": model, "Compression_method": method, LAYERS: best[LAYERS],
                     "response": response, "best_layer": int(best[LAYER]), "best_depth": best[DEPTH],
                     "last_layer": int(last[LAYER]), "best_mean": best["mean"], "last_mean": last["mean"],
                     **assay_level_test(differences, seed, level)})
    table = pd.DataFrame(rows, columns=BEST_COLUMNS[:-2])
    table["assay_p_adjusted"] = holm(table["assay_wilcoxon_p"]) if len(table) else []
    table["assay_stars"] = [significance_stars(p) for p in table["assay_p_adjusted"]]
    return table[BEST_COLUMNS]


def best_layer_per_dataset(frame: pd.DataFrame, response: str = "R2_score_test") -> pd.DataFrame:
    """Per swept model, method and assay: the layer that scores highest on it, its score, the last layer's
    score and the difference."""
    scores = assay_scores(frame, response)
    rows = []
    for (model, method, dataset), group in scores.groupby([*KEYS, "Dataset"], sort=True):
        by_layer = group.set_index(LAYER)[response].sort_index()
        best, last = best_layer(by_layer), by_layer.index.max()
        rows.append({"Embedding_model": model, "Compression_method": method, "Dataset": dataset,
                     LAYERS: group[LAYERS].iloc[0], "response": response, "best_layer": int(best),
                     "best_score": by_layer[best], "last_layer": int(last), "last_score": by_layer[last],
                     "best_minus_last": by_layer[best] - by_layer[last]})
    return pd.DataFrame(rows, columns=PER_DATASET_COLUMNS)


def summary_sentence(row: pd.Series) -> str:
    """One line of :func:`best_vs_last`: ``unirep_64 mean: best layer 2 of 4 (0.312) vs last 4 (0.281), better
    on 20 of 30 assays, mean difference 0.031 [0.012, 0.050], Wilcoxon p = 0.004 (Holm 0.008)``."""
    head = (f"{row['Embedding_model']} {row['Compression_method']}: best layer {row['best_layer']} of "
            f"{int(row[LAYERS])} ({row['best_mean']:.3f})")
    if row["best_layer"] == row["last_layer"]:
        return f"{head} is the last layer"
    interval = f"[{row['assay_ci_low']:.3f}, {row['assay_ci_high']:.3f}]"
    return (f"{head} vs last {row['last_layer']} ({row['last_mean']:.3f}): better on {row['assay_wins_level']} of "
            f"{row['assay_n']} assays, mean difference {row['assay_mean_difference']:.3f} {interval}, Wilcoxon p = "
            f"{row['assay_wilcoxon_p']:.2g} (Holm {row['assay_p_adjusted']:.2g}; chosen on these assays)")
