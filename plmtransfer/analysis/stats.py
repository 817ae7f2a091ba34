"""Statistics on per-fold regression results: tidy summaries, mixed-effects contrasts, data size.

The study fitted, in R's lme4, ``R2_score_test ~ Compression_method + (1 | Dataset) + (1 | Fold)``
by REML with ``mean`` as the reference level and tested every other level against it with
multcomp's ``glht`` (single-step adjusted p-values, simultaneous 95% intervals). Here the same
model is fitted with statsmodels' ``MixedLM``: one all-ones group and one variance component per
crossed random factor (``Dataset``, ``Fold``); the single-step adjustment integrates the
multivariate normal distribution of the z statistics, as ``glht`` does for a mixed model.

Inputs are the per-fold CSVs of the regression stage
(``results/lassoCV/<SET>/<model>/<D>_<method>.csv``) or the study's published per-fold CSVs
(unnamed index column, ``nun_zero_coefs``, ``ModelSize``, ``parameters``, ``dataset_size``).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import optimize, stats

from plmtransfer import layout
from plmtransfer.errors import UserError
from plmtransfer.options import ADJUST_METHODS, DESIGN_FACTORS
from plmtransfer.registry import BASELINE, find_spec, test_model_info

METRIC_COLUMNS = (
    "R2_score_train", "MAE_score_train", "RMSE_score_train",
    "R2_score_test", "MAE_score_test", "RMSE_score_test",
    "rho_score_train", "rho_score_test", "num_nonzero_coefs", "alpha", "fit_seconds",
)
ID_COLUMNS = (
    "Dataset", "Embedding_model", "Model_family", "Model_size", "Parameters", "Random_weights",
    "Compression_method", "Fold", "dataset_size",
)
PUBLISHED_RENAMES = {"nun_zero_coefs": "num_nonzero_coefs", "parameters": "Parameters"}
RANDOM_EFFECTS = ("Dataset", "Fold")
PROTOCOL = "Protocol"  # a result's regression protocol (regress.protocol_name); results without one: the study's
STUDY_PROTOCOL = "study"
LAYER = "Layer"  # the layer a result's features come from (results without one: the model's last, the study's)
UNKNOWN = "unknown"


# --------------------------------------------------------------------------- reading results


def parse_result_stem(stem: str) -> tuple[str, str]:
    """Split a result file stem ``<Dataset>_<method>`` into (dataset, method).

    Data-set names contain ``_`` and methods may contain ``-`` (``pca1-2``), so the method is
    the part after the last ``_``, except a registered method whose name holds ``_`` (``h_avg``).
    """
    from plmtransfer.embed.methods import METHODS

    dataset, method = layout.split_stem(stem, METHODS)
    if not dataset or not method:
        raise UserError(f"result file name {stem!r} is not <Dataset>_<method>.csv")
    return dataset, method


@dataclass(frozen=True)
class ModelInfo:
    """What the statistics know about one embedding model."""

    family: str
    size: str
    parameters: float
    random_weights: bool


def model_info(name: str) -> ModelInfo:
    """Family, size, parameter count and random-weights flag of an embedding model name.

    Names come from the model table (name or alias); randomly initialised test models
    (``esm2_t2_tiny_random``) are marked as random, with what their family says of them
    (:func:`plmtransfer.registry.test_model_info`: family, architecture, parameter count);
    anything else is ``unknown``.
    """
    spec = find_spec(name)
    if spec is not None:
        return ModelInfo(spec.family, spec.size, float(spec.parameters), False)
    random_model = test_model_info(name)
    if random_model is not None:
        return ModelInfo(*random_model, True)
    random_weights = "random" in name.lower().split("_")
    return ModelInfo(UNKNOWN, UNKNOWN, math.nan, random_weights)


def _published_model_name(frame: pd.DataFrame) -> pd.Series:
    """``Model`` + ``ModelSize`` of the study's across-models layout as one alias (``esm2_650M``)."""
    return frame["Model"].astype(str) + "_" + frame["ModelSize"].astype(str)


def normalise_results(frame: pd.DataFrame, source: str, model_dir: str | None = None,
                      stem: str | None = None) -> pd.DataFrame:
    """Bring one per-fold CSV (ours or the study's published layout) to the tidy columns.

    Columns win over the path: ``Embedding_model`` (else ``Model`` + ``ModelSize``, else the
    model directory, else ``Model``), ``Dataset`` and ``Compression_method`` (else the file
    stem ``<Dataset>_<method>``).
    """
    frame = frame.loc[:, [c for c in frame.columns if not str(c).startswith("Unnamed")]].copy()
    frame = frame.rename(columns={k: v for k, v in PUBLISHED_RENAMES.items() if k in frame})
    if "Fold" not in frame:
        raise UserError(f"{source}: no 'Fold' column; expected one row per outer fold")
    if frame.empty:
        raise UserError(f"{source}: no rows")
    published_family = None
    if "Embedding_model" not in frame:
        if {"Model", "ModelSize"} <= set(frame.columns):
            frame["Embedding_model"] = _published_model_name(frame)
            published_family = frame["Model"].astype(str)
        elif model_dir is not None:
            frame["Embedding_model"] = model_dir
        elif "Model" in frame:
            frame["Embedding_model"] = frame["Model"].astype(str)
        else:
            raise UserError(f"{source}: cannot tell the embedding model (no 'Embedding_model' "
                            "or 'Model' column and not under a <model>/ directory)")
    if "Dataset" not in frame or "Compression_method" not in frame:
        if stem is None:
            raise UserError(f"{source}: no 'Dataset'/'Compression_method' columns and the file "
                            "name is not <Dataset>_<method>.csv")
        dataset, method = parse_result_stem(stem)
        if "Dataset" not in frame:
            frame["Dataset"] = dataset
        if "Compression_method" not in frame:
            frame["Compression_method"] = method
    frame["Embedding_model"] = frame["Embedding_model"].astype(str)
    frame["Dataset"] = frame["Dataset"].astype(str)
    frame["Compression_method"] = frame["Compression_method"].astype(str)
    frame[PROTOCOL] = frame[PROTOCOL].fillna(STUDY_PROTOCOL).astype(str) if PROTOCOL in frame else STUDY_PROTOCOL
    if LAYER not in frame and stem is not None and (layer := stem_layer(stem)) is not None:
        frame[LAYER] = layer
    _add_model_columns(frame, published_family)
    return frame


def stem_layer(stem: str) -> int | None:
    """The layer a file stem named like a compressed-embedding file states (``embed_layer_3_mean`` -> 3), else None.

    A result file named after its input (``<model>/<D>/embed_layer_<L>_<method>.csv``) carries its layer in
    its name; a result with a ``Layer`` column needs none.
    """
    if not stem.startswith(layout.COMPRESSED_PREFIX):
        return None
    from plmtransfer.embed.methods import METHODS

    layer = layout.split_stem(stem.removeprefix(layout.COMPRESSED_PREFIX), METHODS)[0]
    return int(layer) if layer.lstrip("-").isdigit() else None


def _add_model_columns(frame: pd.DataFrame, published_family: pd.Series | None) -> None:
    """Fill ``Model_family``, ``Model_size``, ``Parameters`` and ``Random_weights`` in place."""
    infos = {name: model_info(name) for name in frame["Embedding_model"].unique()}
    names = frame["Embedding_model"]
    family = names.map(lambda n: infos[n].family)
    if published_family is not None:
        family = family.where(family != UNKNOWN, published_family)
    if "Model_family" not in frame:
        frame["Model_family"] = family
    if "Model_size" not in frame:
        sizes = names.map(lambda n: infos[n].size)
        if "ModelSize" in frame:
            sizes = sizes.where(sizes != UNKNOWN, frame["ModelSize"].astype(str))
        frame["Model_size"] = sizes
    table_parameters = names.map(lambda n: infos[n].parameters).astype(float)
    if "Parameters" in frame:
        frame["Parameters"] = pd.to_numeric(frame["Parameters"], errors="coerce").fillna(
            table_parameters)
    else:
        frame["Parameters"] = table_parameters
    if "Random_weights" not in frame:
        frame["Random_weights"] = names.map(lambda n: infos[n].random_weights).astype(bool)


def find_result_files(results_dir: str | Path) -> list[Path]:
    """All per-fold CSVs under ``results_dir`` (``<model>/<D>_<method>.csv`` or combined CSVs)."""
    root = Path(results_dir)
    if not root.is_dir():
        raise UserError(f"{root}: results directory not found")
    files = sorted(p for p in root.rglob("*.csv") if not p.name.startswith("."))
    if not files:
        raise UserError(f"{root}: no per-fold result CSVs found (expected <model>/<D>_<method>.csv)")
    return files


def read_result_file(path: Path, results_dir: Path | None = None) -> pd.DataFrame | None:
    """Read one per-fold CSV and normalise it; the model directory is its parent folder name.

    Inside a results directory, a CSV with a header and no rows (a CV scheme not defined for
    that data set, ``regress.UndefinedSchemeError``) gives None; a single file must have rows.
    """
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: not a readable CSV ({error})") from None
    if frame.empty and results_dir is not None:
        return None
    model_dir = None
    if results_dir is not None and path.parent != results_dir:
        model_dir = path.parent.name
    return normalise_results(frame, str(path), model_dir=model_dir, stem=path.stem)


def dataset_sizes(metadata_dir: str | Path, datasets: Iterable[str]) -> dict[str, int]:
    """Number of rows of each data set's metadata CSV (``<D>_metadata.csv`` or ``<D>.csv``)."""
    root = Path(metadata_dir)
    if not root.is_dir():
        raise UserError(f"{root}: metadata directory not found")
    sizes = {}
    for dataset in datasets:
        for candidate in layout.metadata_candidates(root, dataset):
            if candidate.is_file():
                sizes[dataset] = len(pd.read_csv(candidate, usecols=[0]))
                break
    return sizes


def check_duplicates(frame: pd.DataFrame) -> None:
    """Fail when one (data set, model, method, fold[, protocol, layer, sample size]) appears more than once."""
    keys = ["Dataset", "Embedding_model", "Compression_method", "Fold"]
    keys += [column for column in (PROTOCOL, LAYER) if column in frame]
    if "Sample_size" in frame:
        keys.append("Sample_size")
    duplicated = frame.duplicated(keys, keep=False)
    if duplicated.any():
        first = frame.loc[duplicated, keys].iloc[0].to_dict()
        source = frame.loc[duplicated, "Source_file"].unique()[:2] if "Source_file" in frame else []
        raise UserError(f"duplicate per-fold result {first} (files: {', '.join(map(str, source))}); "
                        "keep one copy of each result")


def order_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Identifier columns first, then ``Sample_size``, the metrics, and anything else."""
    first = [c for c in ID_COLUMNS if c in frame]
    if "Sample_size" in frame:
        first.append("Sample_size")
    metrics = [c for c in METRIC_COLUMNS if c in frame]
    rest = [c for c in frame.columns if c not in first and c not in metrics]
    return frame[first + metrics + rest]


def collect_results(results_dir: str | Path, metadata_dir: str | Path | None = None) -> pd.DataFrame:
    """Collect every per-fold CSV of a results tree into one tidy DataFrame.

    ``dataset_size`` comes from the published column when present, else from the metadata
    CSVs in ``metadata_dir``, else from ``n_train + n_test`` of the results, else is missing.
    """
    root = Path(results_dir)
    frames = []
    for path in find_result_files(root):
        frame = read_result_file(path, root)
        if frame is None:
            continue
        frame["Source_file"] = str(path.relative_to(root))
        frames.append(frame)
    if not frames:
        raise UserError(f"{root}: every per-fold CSV is empty (a CV scheme not defined for its data sets)")
    frame = pd.concat(frames, ignore_index=True, sort=False)
    check_duplicates(frame)
    add_dataset_size(frame, metadata_dir)
    frame = frame.sort_values([c for c in ("Embedding_model", "Compression_method", "Dataset",
                                           "Sample_size", "Fold") if c in frame], kind="stable")
    return order_columns(frame.reset_index(drop=True))


def add_dataset_size(frame: pd.DataFrame, metadata_dir: str | Path | None) -> None:
    """Fill ``dataset_size`` in place (published column > metadata rows > n_train + n_test)."""
    size = pd.Series(np.nan, index=frame.index)
    if "dataset_size" in frame:
        size = pd.to_numeric(frame["dataset_size"], errors="coerce")
    if metadata_dir is not None:
        sizes = dataset_sizes(metadata_dir, frame["Dataset"].unique())
        size = size.fillna(frame["Dataset"].map(sizes))
    if {"n_train", "n_test"} <= set(frame.columns):
        size = size.fillna(frame["n_train"] + frame["n_test"])
    frame["dataset_size"] = size


def read_per_fold(path: str | Path, metadata_dir: str | Path | None = None) -> pd.DataFrame:
    """A results tree (directory) or one tidy/published per-fold CSV, as the tidy DataFrame."""
    path = Path(path)
    if path.is_dir():
        return collect_results(path, metadata_dir)
    if not path.is_file():
        raise UserError(f"{path}: no such results directory or per-fold CSV")
    frame = read_result_file(path)
    check_duplicates(frame)
    add_dataset_size(frame, metadata_dir)
    return order_columns(frame)


def select_rows(frame: pd.DataFrame, where: Sequence[str]) -> pd.DataFrame:
    """Keep rows matching every ``COLUMN=VALUE`` filter (values compared as text)."""
    for condition in where:
        column, separator, value = condition.partition("=")
        if not separator or column not in frame:
            raise UserError(f"filter {condition!r} must be COLUMN=VALUE with a column of the "
                            f"results ({', '.join(map(str, frame.columns))})")
        frame = frame[frame[column].astype(str) == value]
        if frame.empty:
            raise UserError(f"filter {condition!r} leaves no rows")
    return frame


# --------------------------------------------------------------------------- summaries


def dataset_means(frame: pd.DataFrame, response: str, by: Sequence[str]) -> pd.DataFrame:
    """Mean of ``response`` over folds for each data set within the groups ``by``."""
    check_response(frame, response)
    keys = list(by) + ["Dataset"]
    extra = {c: "first" for c in ("dataset_size", "Parameters", "Model_family", "Random_weights")
             if c in frame and c not in keys}
    aggregations = {response: "mean", **extra}
    return frame.groupby(keys, sort=True, dropna=False).agg(aggregations).reset_index()


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, standard deviation and t-based ``level`` confidence interval of ``values``."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(values.std(ddof=1))
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def summarise_by(frame: pd.DataFrame, response: str = "R2_score_test",
                 by: Sequence[str] = ("Embedding_model", "Compression_method"),
                 level: float = 0.95) -> pd.DataFrame:
    """Per group: number of data sets, mean over data sets of the per-data-set fold means, SD, CI.

    Groups are split by ``Protocol`` too (:func:`with_protocol`): protocols are never pooled.
    """
    by = with_protocol(frame, by)
    means = dataset_means(frame, response, by)
    rows = []
    for key, group in means.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        mean, sd, low, high = mean_ci(group[response].to_numpy(), level)
        row = dict(zip(by, key, strict=True))
        if "Random_weights" in group:
            row["Random_weights"] = bool(group["Random_weights"].any())
        row.update(response=response, n_datasets=len(group), mean=mean, sd=sd,
                   ci_low=low, ci_high=high, ci_level=level)
        rows.append(row)
    return pd.DataFrame(rows)


def check_response(frame: pd.DataFrame, response: str) -> None:
    """Fail with the available columns when ``response`` is not a numeric column."""
    if response not in frame:
        numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        raise UserError(f"response column {response!r} not in the results; numeric columns: "
                        f"{', '.join(numeric)}")
    if not pd.api.types.is_numeric_dtype(frame[response]):
        raise UserError(f"response column {response!r} is not numeric")


# --------------------------------------------------------------------------- multiplicity


def significance_stars(p_value: float) -> str:
    """R's significance codes: *** < 0.001 < ** < 0.01 < * < 0.05 < . < 0.1."""
    if not np.isfinite(p_value):
        return ""
    for threshold, stars in ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, ".")):
        if p_value < threshold:
            return stars
    return ""


def max_abs_normal_cdf(c: float, correlation: np.ndarray, seed: int = 0) -> float:
    """P(max_i |Z_i| <= c) for Z ~ N(0, correlation) (Genz's algorithm, seeded)."""
    k = correlation.shape[0]
    if k == 1:
        return float(2 * stats.norm.cdf(c) - 1)
    bound = np.full(k, c)
    return float(stats.multivariate_normal.cdf(
        bound, mean=np.zeros(k), cov=correlation, lower_limit=-bound, allow_singular=True,
        maxpts=50_000 * k, abseps=1e-6, releps=1e-6, rng=np.random.default_rng(seed)))


def single_step_pvalues(z: np.ndarray, correlation: np.ndarray, seed: int = 0) -> np.ndarray:
    """multcomp's single-step adjusted p-values: P(max |Z| >= |z_i|) under the joint null.

    The numerical integral is kept within its exact bounds: at least the raw p-value and at most
    the Bonferroni p-value.
    """
    z = np.abs(np.asarray(z, dtype=float))
    raw = 2 * stats.norm.sf(z)
    k = len(z)
    adjusted = np.array([1.0 - max_abs_normal_cdf(value, correlation, seed) for value in z])
    return np.clip(adjusted, raw, np.minimum(1.0, k * raw))


def single_step_quantile(correlation: np.ndarray, level: float = 0.95, seed: int = 0) -> float:
    """The c with P(max |Z| <= c) = level: the critical value of simultaneous intervals."""
    k = correlation.shape[0]
    low = stats.norm.ppf(0.5 + level / 2)
    high = stats.norm.ppf(1 - (1 - level) / (2 * k))
    if k == 1 or high - low < 1e-9:
        return float(low)
    return float(optimize.brentq(lambda c: max_abs_normal_cdf(c, correlation, seed) - level,
                                 low - 1e-6, high + 1e-3, xtol=1e-6))


def adjust_pvalues(raw: np.ndarray, z: np.ndarray, correlation: np.ndarray, method: str,
                   seed: int = 0) -> np.ndarray:
    """Adjusted p-values: single-step (multivariate normal), Holm, Bonferroni or none."""
    raw = np.asarray(raw, dtype=float)
    k = len(raw)
    if method == "single-step":
        return single_step_pvalues(z, correlation, seed)
    if method == "bonferroni":
        return np.minimum(1.0, k * raw)
    if method == "holm":
        order = np.argsort(raw)
        stepped = np.maximum.accumulate((k - np.arange(k)) * raw[order])
        adjusted = np.empty(k)
        adjusted[order] = np.minimum(1.0, stepped)
        return adjusted
    if method == "none":
        return raw.copy()
    raise UserError(f"unknown adjustment {method!r}; use one of {', '.join(ADJUST_METHODS)}")


def critical_value(correlation: np.ndarray, method: str, level: float = 0.95, seed: int = 0) -> float:
    """Critical |z| of the intervals matching the adjustment (Holm uses Bonferroni's intervals)."""
    k = correlation.shape[0]
    if method == "single-step":
        return single_step_quantile(correlation, level, seed)
    if method in ("bonferroni", "holm"):
        return float(stats.norm.ppf(1 - (1 - level) / (2 * k)))
    return float(stats.norm.ppf(0.5 + level / 2))


# --------------------------------------------------------------------------- mixed model


@dataclass
class ContrastResult:
    """Contrasts of every level against the reference, and facts about the fit."""

    contrasts: pd.DataFrame
    info: dict
    warnings: list[str] = field(default_factory=list)


def design_warnings(frame: pd.DataFrame, factor: str) -> list[str]:
    """Say when the data-set x level design is unbalanced (missing cells or unequal counts)."""
    counts = frame.groupby(["Dataset", factor]).size().unstack(fill_value=0)
    missing = int((counts == 0).sum().sum())
    nonzero = counts.to_numpy()[counts.to_numpy() > 0]
    notes = []
    if missing or len(np.unique(nonzero)) > 1:
        notes.append(f"unbalanced design: {missing} of {counts.size} (Dataset x {factor}) cells "
                     f"empty, rows per cell {int(nonzero.min())}-{int(nonzero.max())}; estimates "
                     "are model-based and differ from differences of raw means")
    return notes


def check_design(frame: pd.DataFrame, response: str, factor: str, reference: str) -> list:
    """Validate columns and levels of a contrast fit; return the levels, reference first."""
    check_response(frame, response)
    for column in (factor, *RANDOM_EFFECTS):
        if column not in frame:
            raise UserError(f"column {column!r} not in the results")
    for other in DESIGN_FACTORS:
        if other != factor and other in frame and frame[other].nunique() > 1:
            raise UserError(f"the results hold {frame[other].nunique()} values of {other} "
                            f"({', '.join(map(str, sorted(frame[other].unique())[:5]))}); "
                            f"compare {factor} within one, e.g. --where {other}=VALUE")
    if PROTOCOL in frame and frame[PROTOCOL].nunique() > 1:
        raise UserError(f"the results hold {frame[PROTOCOL].nunique()} protocols "
                        f"({', '.join(sorted(frame[PROTOCOL].astype(str).unique()))}); "
                        f"compare {factor} within one, e.g. --where {PROTOCOL}={STUDY_PROTOCOL}")
    levels = sorted(frame[factor].astype(str).unique())
    if reference not in levels:
        raise UserError(f"reference level {reference!r} not among the {factor} values: "
                        f"{', '.join(levels)}")
    if len(levels) < 2:
        raise UserError(f"{factor} has only one level ({reference}); nothing to compare")
    return [reference] + [level for level in levels if level != reference]


def fit_contrasts(frame: pd.DataFrame, response: str = "R2_score_test",
                  factor: str = "Compression_method", reference: str = "mean",
                  adjust: str = "single-step", level: float = 0.95, seed: int = 0) -> ContrastResult:
    """Fit ``response ~ factor + (1|Dataset) + (1|Fold)`` by REML; contrast levels vs reference.

    Returns one row per non-reference level with estimate, SE, z, raw and adjusted p, the
    interval matching the adjustment and significance stars (from the adjusted p), plus the
    intercept, variance components, REML log-likelihood and convergence flag.
    """
    if adjust not in ADJUST_METHODS:
        raise UserError(f"unknown adjustment {adjust!r}; use one of {', '.join(ADJUST_METHODS)}")
    levels = check_design(frame, response, factor, reference)
    notes = []
    data = frame[frame[response].notna()]
    if len(data) < len(frame):
        notes.append(f"{len(frame) - len(data)} rows with missing {response} left out")
    notes += design_warnings(data, factor)
    design = pd.DataFrame({"y": data[response].to_numpy(dtype=float), "one": 1})
    names = [f"x{i}" for i in range(1, len(levels))]
    for name, contrast_level in zip(names, levels[1:], strict=True):
        design[name] = (data[factor].astype(str).to_numpy() == contrast_level).astype(float)
    components = {}
    for column in RANDOM_EFFECTS:
        if data[column].nunique() > 1:
            design[column] = data[column].astype(str).to_numpy()
            components[column] = f"0 + C({column})"
        else:
            notes.append(f"only one {column}: no {column} random effect fitted")
    formula = "y ~ " + " + ".join(names)
    try:
        result, optimizer, fit_notes = _fit_reml(formula, design, components)
    except (np.linalg.LinAlgError, ValueError) as error:
        raise UserError(f"the mixed model of {response} ~ {factor} could not be fitted "
                        f"({error}); check that every level has results") from None
    notes += fit_notes
    converged = bool(getattr(result, "converged", True))
    if not converged:
        notes.insert(0, "the mixed model did NOT converge with any optimizer: do not trust "
                        "these estimates")
    contrasts, info = _contrast_table(result, names, levels, components, adjust, level, seed)
    info.update(response=response, factor=factor, reference=reference, converged=converged,
                optimizer=optimizer,
                n_obs=len(data), n_datasets=int(data["Dataset"].nunique()),
                n_folds=int(data["Fold"].nunique()))
    if not np.all(np.isfinite(contrasts["std_error"])):
        notes.append("some standard errors are not finite: the fit is degenerate")
    for key, value in info.items():
        contrasts[key] = value
    contrasts["fit_warnings"] = " | ".join(notes)
    return ContrastResult(contrasts, info, notes)


OPTIMIZERS = (("lbfgs", "powell"), ("nm", "bfgs"))


def _fit_reml(formula: str, design: pd.DataFrame, components: dict):
    """REML fit trying several optimizers; keep the converged fit with the highest likelihood.

    statsmodels' default (BFGS first) often stops short when a variance component is near
    zero, where L-BFGS or Powell converge; the second round is tried only if the first fails.
    Returns (result, optimizer name, warnings of the kept fit). OLS when no random effect.
    """
    import statsmodels.formula.api as smf

    if not components:
        return smf.ols(formula, design).fit(), "ols", []
    model = smf.mixedlm(formula, design, groups="one", re_formula="0", vc_formula=components)
    fits = []
    for optimizers in OPTIMIZERS:
        for optimizer in optimizers:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = model.fit(reml=True, method=[optimizer])
            messages = sorted({str(w.message).splitlines()[0] for w in caught
                               if not issubclass(w.category, DeprecationWarning)})
            fits.append((bool(result.converged), float(result.llf), optimizer, result, messages))
        if any(fit[0] for fit in fits):
            break
    converged, _, optimizer, result, messages = max(fits, key=lambda fit: (fit[0], fit[1]))
    return result, optimizer, messages


def _variance_components(result, components: dict) -> dict:
    """Random-effect variances by name (``var_Dataset``, ``var_Fold``) and the residual variance."""
    variances = {f"var_{column}": math.nan for column in RANDOM_EFFECTS}
    if components:
        for name, value in zip(result.model.exog_vc.names, result.vcomp, strict=True):
            variances[f"var_{name}"] = float(value)
    variances["var_residual"] = float(result.scale)
    return variances


def _contrast_table(result, names, levels, components, adjust, level, seed):
    """Build the contrast rows and the fit facts from a fitted statsmodels result."""
    estimates = np.asarray(result.params[names], dtype=float)
    covariance = np.asarray(result.cov_params().loc[names, names], dtype=float)
    se = np.sqrt(np.diag(covariance))
    z = estimates / se
    raw = 2 * stats.norm.sf(np.abs(z))
    correlation = covariance / np.outer(se, se)
    adjusted = adjust_pvalues(raw, z, correlation, adjust, seed)
    critical = critical_value(correlation, adjust, level, seed)
    contrasts = pd.DataFrame({
        "level": levels[1:],
        "contrast": [f"{name} - {levels[0]}" for name in levels[1:]],
        "estimate": estimates, "std_error": se, "z": z, "p_value": raw, "p_adjusted": adjusted,
        "ci_low": estimates - critical * se, "ci_high": estimates + critical * se,
        "stars": [significance_stars(p) for p in adjusted],
    })
    contrasts["level_random_weights"] = [model_info(name).random_weights for name in levels[1:]]
    info = {
        "adjust": adjust, "ci_level": level, "critical_value": critical,
        "intercept": float(result.params["Intercept"]),
        "intercept_se": float(np.sqrt(result.cov_params().loc["Intercept", "Intercept"])),
        **_variance_components(result, components),
        "log_likelihood": float(result.llf), "method": "REML" if components else "OLS",
    }
    return contrasts, info


# --------------------------------------------------------------------------- data size


MIN_FIT_DATASETS = 5
MIN_FIT_DECADES = 0.5


def datasize_fit_reason(sizes) -> str | None:
    """Why the data sets of ``sizes`` support no line against log10(size); None when they do.

    A slope "per tenfold more rows" needs at least ``MIN_FIT_DATASETS`` data sets spanning at
    least ``MIN_FIT_DECADES`` of size: through 3 data sets of 1,435-1,801 rows (0.1 decade) any
    line is an extrapolation of noise by a factor of ten.
    """
    sizes = np.asarray(sizes, dtype=float)
    sizes = sizes[np.isfinite(sizes) & (sizes > 0)]
    decades = float(np.log10(sizes.max() / sizes.min())) if len(sizes) else 0.0
    if len(sizes) >= MIN_FIT_DATASETS and decades >= MIN_FIT_DECADES:
        return None
    return (f"{len(sizes)} data set{'s' if len(sizes) != 1 else ''} spanning {decades:.2f} decade of size; "
            f"a line needs at least {MIN_FIT_DATASETS} spanning at least {MIN_FIT_DECADES} decade")


def datasize_fits(frame: pd.DataFrame, response: str = "R2_score_test",
                  by: Sequence[str] = ("Embedding_model", "Compression_method")) -> pd.DataFrame:
    """OLS of each group's per-data-set mean ``response`` on log10(dataset_size).

    Slope = change of the mean score per tenfold more data. A group is fitted only when its data
    sets pass :func:`datasize_fit_reason` (at least 5, spanning at least half a decade); otherwise
    its fit columns are empty and ``no_fit_reason`` says why. ``size_decades`` is log10(max/min size).
    """
    check_response(frame, response)
    if "dataset_size" not in frame or frame["dataset_size"].isna().all():
        raise UserError("no dataset_size known: pass --metadata-dir or results with a "
                        "dataset_size column")
    by = with_protocol(frame, by)
    means = dataset_means(frame, response, by)
    means = means[means["dataset_size"].notna() & means[response].notna()]
    rows = []
    for key, group in means.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key, strict=True))
        sizes = group["dataset_size"].to_numpy(dtype=float)
        reason = datasize_fit_reason(sizes)
        row.update(_log_size_fit(np.log10(sizes), group[response].to_numpy(dtype=float))
                   if reason is None else _log_size_fit(np.array([]), np.array([])))
        row.update(n_datasets=len(group), response=response, min_size=sizes.min(), max_size=sizes.max(),
                   size_decades=float(np.log10(sizes.max() / sizes.min())),
                   Random_weights=bool(group["Random_weights"].any())
                   if "Random_weights" in group else False,
                   no_fit_reason=reason or "")
        rows.append(row)
    return pd.DataFrame(rows)


def _log_size_fit(x: np.ndarray, y: np.ndarray) -> dict:
    """Slope, intercept, R², n, slope SE and p of the least-squares line y = a + b x."""
    n = len(x)
    empty = dict(n_datasets=n, slope_per_log10_size=math.nan, intercept=math.nan,
                 r_squared=math.nan, slope_se=math.nan, slope_p_value=math.nan)
    if n < 2 or np.ptp(x) == 0:
        return empty
    slope, intercept = np.polyfit(x, y, 1)
    residuals = y - (intercept + slope * x)
    total = np.sum((y - y.mean()) ** 2)
    r_squared = 1 - np.sum(residuals ** 2) / total if total > 0 else math.nan
    fit = dict(empty, slope_per_log10_size=float(slope), intercept=float(intercept),
               r_squared=float(r_squared))
    if n >= 3:
        se = math.sqrt(np.sum(residuals ** 2) / (n - 2) / np.sum((x - x.mean()) ** 2))
        fit["slope_se"] = se
        fit["slope_p_value"] = float(2 * stats.t.sf(abs(slope / se), n - 2)) if se > 0 else 0.0
    return fit


# --------------------------------------------------------------------------- the one-hot baseline


@functools.cache
def baseline_method(set_name: str = layout.DMS) -> str:
    """The compression method of the study's one-hot baseline on a data-set family.

    The first of the baseline model's (:data:`plmtransfer.registry.BASELINE`) ``model_defaults``
    methods in ``config/study.yaml``: ``flat`` (per-position indicators) on DMS, ``mean``
    (amino-acid composition) on PISCES.
    """
    from plmtransfer import config as study_config

    config = study_config.load_config()
    return study_config.method_list(study_config.model_defaults(config, BASELINE).get("methods"), config, set_name)[0]


def baseline_label(set_name: str = layout.DMS) -> str:
    """``onehot:<method>``: the study's one-hot baseline of a data-set family as ``model:method``."""
    return f"{BASELINE}:{baseline_method(set_name)}"


def baseline_name(method: str) -> str:
    """How figures and sentences name the baseline: ``one-hot flat (baseline)``."""
    return f"one-hot {method} (baseline)"


def results_baseline(frame: pd.DataFrame) -> str | None:
    """The baseline's method in these results; None when they hold no baseline rows.

    The study method (:func:`baseline_method`) of the first family (DMS, PISCES) whose method the
    baseline model has: one-hot ``flat`` exists on DMS only, so DMS results give ``flat`` and
    PISCES results ``mean``; else the baseline model's only method. None when it has several and
    none is the study's: then no single baseline is defined.
    """
    methods = set(frame.loc[frame["Embedding_model"] == BASELINE, "Compression_method"])
    for family in layout.SETS:
        if baseline_method(family) in methods:
            return baseline_method(family)
    return next(iter(methods)) if len(methods) == 1 else None


def method_rows(frame: pd.DataFrame, method: str, baseline: str | None = None) -> pd.DataFrame:
    """Rows of one compression method, the one-hot baseline's rows being those of its own method.

    Models are compared with one baseline, the study's one-hot definition (``baseline``, by
    default :func:`results_baseline`: ``flat`` on DMS), whatever the method: the study compared
    one-hot ``flat`` with every pLM's ``mean``. Its rows are relabelled with ``method`` in the
    returned frame (the per-fold tables on disk keep ``flat``); its rows of other methods are left
    out. Without a baseline in the results, the rows of ``method`` as they are.
    """
    baseline = baseline or results_baseline(frame)
    own = frame["Compression_method"] == method
    is_baseline = frame["Embedding_model"] == BASELINE
    if baseline is None or baseline == method or not (own & ~is_baseline).any():
        return frame[own]
    chosen = frame[is_baseline & (frame["Compression_method"] == baseline)]
    return pd.concat([frame[own & ~is_baseline], chosen.assign(Compression_method=method)])


def default_model_reference(frame: pd.DataFrame) -> str:
    """Reference model for model contrasts: the one-hot baseline if present, else the smallest."""
    names = frame["Embedding_model"].unique()
    if BASELINE in names:
        return BASELINE
    parameters = frame.groupby("Embedding_model")["Parameters"].first().fillna(np.inf)
    return str(parameters.sort_values(kind="stable").index[0])


# --------------------------------------------------------------------------- protocols and uninformative inputs

CONSTANT_FEATURE_TOL = 1e-6  # largest column SD (relative to the feature scale) of an input that is constant
SIGNATURE_TOL = 1e-4  # relative difference within which two inputs' feature signatures count as equal
CONSTANT_NOTE = "constant: carries no sequence information"
INPUT_KEYS = ["Dataset", "Embedding_model", "Compression_method"]


def with_protocol(frame: pd.DataFrame, by: Sequence[str]) -> list[str]:
    """``by`` plus ``Protocol`` when the results carry it and ``by`` does not: protocols are never pooled."""
    by = list(by)
    return [*by, PROTOCOL] if PROTOCOL in frame and PROTOCOL not in by else by


def protocols(frame: pd.DataFrame) -> list[str]:
    """The protocols present in the results, the study's first."""
    names = sorted(frame[PROTOCOL].astype(str).unique()) if PROTOCOL in frame else [STUDY_PROTOCOL]
    return sorted(names, key=lambda name: name != STUDY_PROTOCOL)


def is_constant_feature(sd_max: float, tol: float = CONSTANT_FEATURE_TOL) -> bool:
    """Whether an input is the same vector for every protein: its ``feature_sd_max`` is at most ``tol``.

    ``feature_sd_max`` is the regression stage's largest column SD relative to the largest absolute
    value (:func:`plmtransfer.learn.regress.feature_information`), so the rule is scale-free and
    a float32 rounding difference (relative 1e-7) still counts as constant.
    """
    return bool(np.isfinite(sd_max) and sd_max <= tol)


def parse_signature(text) -> tuple[int, np.ndarray] | None:
    """A ``feature_signature`` (``<columns>:<t1>:<t2>:<t3>``) as (columns, projections); None when absent."""
    if not isinstance(text, str) or ":" not in text:
        return None
    columns, *values = text.split(":")
    return int(columns), np.array(values, dtype=float)


def same_signature(first: tuple[int, np.ndarray] | None, second: tuple[int, np.ndarray] | None,
                   tol: float = SIGNATURE_TOL) -> bool:
    """Whether two inputs have the same features after scaling: same columns, projections equal to ``tol``."""
    if first is None or second is None or first[0] != second[0] or len(first[1]) != len(second[1]):
        return False
    scale = max(float(np.max(np.abs(first[1]))), float(np.max(np.abs(second[1]))), np.finfo(float).tiny)
    return bool(np.all(np.abs(first[1] - second[1]) <= tol * scale))


def uninformative_inputs(frame: pd.DataFrame, reference_method: str = "mean",
                         tol: float = CONSTANT_FEATURE_TOL) -> pd.DataFrame:
    """The inputs that carry no information of their own, decided per data set from their features.

    One row per (Dataset, Embedding_model, Compression_method) to leave out of contrasts and
    rankings: ``status`` ``constant`` (:func:`is_constant_feature`: the same vector for every
    protein, e.g. a left-to-right model's state after the start token) or ``duplicate`` (the
    features equal, after MinMax scaling, those of ``same_as``, the method kept: ``reference_method``
    when it is one of them, else the first by name), with a ``note`` in words. Results without the
    regression stage's feature columns (older runs, published CSVs) are never flagged.
    """
    columns = [*INPUT_KEYS, "status", "same_as", "feature_sd_max", "note"]
    if "feature_sd_max" not in frame:
        return pd.DataFrame(columns=columns)
    aggregations = {"feature_sd_max": ("feature_sd_max", "first")}
    if "feature_signature" in frame:
        aggregations["feature_signature"] = ("feature_signature", "first")
    inputs = frame.groupby(INPUT_KEYS, sort=True).agg(**aggregations).reset_index()
    rows = []
    for (dataset, model), group in inputs.groupby(["Dataset", "Embedding_model"], sort=True):
        kept: list[tuple[str, tuple | None]] = []
        group = group.sort_values("Compression_method", key=lambda m: m != reference_method, kind="stable")
        for record in group.itertuples(index=False):
            sd_max = float(pd.to_numeric(record.feature_sd_max, errors="coerce"))
            base = {"Dataset": dataset, "Embedding_model": model, "Compression_method": record.Compression_method,
                    "feature_sd_max": sd_max}
            if is_constant_feature(sd_max, tol):
                rows.append({**base, "status": "constant", "same_as": "", "note": CONSTANT_NOTE})
                continue
            signature = parse_signature(getattr(record, "feature_signature", None))
            twin = next((method for method, other in kept if same_signature(signature, other)), None)
            if twin is None:
                kept.append((record.Compression_method, signature))
            else:
                rows.append({**base, "status": "duplicate", "same_as": twin,
                             "note": f"same features as {twin} after scaling: reported as one with {twin}"})
    return pd.DataFrame(rows, columns=columns)


def informative_rows(frame: pd.DataFrame, flagged: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the rows of the inputs :func:`uninformative_inputs` flagged."""
    if flagged.empty:
        return frame
    keys = pd.MultiIndex.from_frame(flagged[INPUT_KEYS].astype(str))
    rows = pd.MultiIndex.from_frame(frame[INPUT_KEYS].astype(str))
    return frame[~rows.isin(keys)]


def uninformative_notes(flagged: pd.DataFrame, frame: pd.DataFrame) -> list[str]:
    """One sentence per (model, method, status): which inputs are named and left out, on how many data sets."""
    notes = []
    for (model, method, status, same_as), group in flagged.groupby(
            ["Embedding_model", "Compression_method", "status", "same_as"], sort=True):
        total = frame.loc[frame["Embedding_model"] == model, "Dataset"].nunique()
        what = CONSTANT_NOTE if status == "constant" else f"same features as {same_as} after scaling (reported as one)"
        notes.append(f"{method} ({model}): {what} on {group['Dataset'].nunique()} of {total} data set(s); "
                     "left out of the contrasts and rankings (its per-fold results stay in per_fold.csv)")
    return notes


# --------------------------------------------------------------------------- assay-level statistics

BOOTSTRAP_RESAMPLES = 9999
SIGNIFICANCE = 0.05
ASSAY_COLUMNS = ("assay_n", "assay_wins_level", "assay_wins_reference", "assay_mean_difference",
                 "assay_ci_low", "assay_ci_high", "assay_wilcoxon_statistic", "assay_wilcoxon_p",
                 "assay_p_adjusted", "assay_stars", "agreement")


def paired_assay_differences(frame: pd.DataFrame, response: str, factor: str, level: str,
                             reference: str) -> pd.Series:
    """Per data set holding both: the mean over its outer folds of ``level`` minus that of ``reference``."""
    means = frame.assign(**{factor: frame[factor].astype(str)}).groupby([factor, "Dataset"])[response].mean()
    levels = means.index.get_level_values(0)
    if level not in levels or reference not in levels:
        return pd.Series(dtype=float)
    return (means.xs(level) - means.xs(reference)).dropna()


def assay_level_test(differences, seed: int = 0, level: float = 0.95,
                     n_resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    """Wins, mean, bootstrap CI and Wilcoxon signed-rank test of per-assay paired differences.

    One value per assay, so an assay counts once however many folds it has (the mixed model's
    p-values treat folds as observations). The interval is the seeded percentile bootstrap over
    assays (``scipy.stats.bootstrap``); the test is ``scipy.stats.wilcoxon`` (two-sided; zero
    differences dropped, its default). Undefined values are NaN: the test needs a non-zero
    difference, the interval two assays.
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    result = {"assay_n": len(d), "assay_wins_level": int(np.sum(d > 0)), "assay_wins_reference": int(np.sum(d < 0)),
              "assay_mean_difference": float(d.mean()) if len(d) else math.nan,
              "assay_ci_low": math.nan, "assay_ci_high": math.nan,
              "assay_wilcoxon_statistic": math.nan, "assay_wilcoxon_p": math.nan}
    if np.any(d != 0):
        test = stats.wilcoxon(d)
        result.update(assay_wilcoxon_statistic=float(test.statistic), assay_wilcoxon_p=float(test.pvalue))
    if len(d) >= 2 and np.ptp(d) > 0:
        interval = stats.bootstrap((d,), np.mean, n_resamples=n_resamples, confidence_level=level,
                                   method="percentile", rng=np.random.default_rng(seed)).confidence_interval
        result.update(assay_ci_low=float(interval.low), assay_ci_high=float(interval.high))
    elif len(d) >= 2:
        result.update(assay_ci_low=float(d[0]), assay_ci_high=float(d[0]))
    return result


def holm(p_values) -> np.ndarray:
    """Holm-adjusted p-values of the finite entries (NaN stays NaN)."""
    p_values = np.asarray(p_values, dtype=float)
    adjusted = np.full(len(p_values), math.nan)
    finite = np.isfinite(p_values)
    if finite.any():
        adjusted[finite] = adjust_pvalues(p_values[finite], p_values[finite], np.eye(int(finite.sum())), "holm")
    return adjusted


def assay_level_contrasts(frame: pd.DataFrame, response: str, factor: str, reference: str,
                          seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Every other level of ``factor`` against ``reference`` over assays (:func:`assay_level_test`).

    Wilcoxon p-values are Holm-adjusted over the levels (``assay_p_adjusted``), a family as the
    mixed model's single-step adjustment has.
    """
    levels = [other for other in sorted(frame[factor].astype(str).unique()) if other != reference]
    rows = [{"level": other, **assay_level_test(paired_assay_differences(frame, response, factor, other, reference),
                                                 seed, level)} for other in levels]
    table = pd.DataFrame(rows, columns=["level", *ASSAY_COLUMNS[:-3]])
    table["assay_p_adjusted"] = holm(table["assay_wilcoxon_p"])
    table["assay_stars"] = [significance_stars(p) for p in table["assay_p_adjusted"]]
    return table


def agreement(fold_p: float, fold_estimate: float, assay_p: float, assay_difference: float,
              alpha: float = SIGNIFICANCE) -> str:
    """Whether the fold-level mixed model and the assay-level test agree on a contrast, in words."""
    fold, assay = bool(fold_p < alpha), bool(assay_p < alpha)
    if fold and assay:
        return "agree" if np.sign(fold_estimate) == np.sign(assay_difference) else "opposite directions"
    if fold:
        return "fold level only"
    if assay:
        return "assay level only"
    return "agree (neither significant)"


def add_assay_level(contrasts: pd.DataFrame, frame: pd.DataFrame, response: str, seed: int = 0) -> pd.DataFrame:
    """A contrast table (:func:`fit_contrasts`) with :func:`assay_level_contrasts`' columns appended."""
    factor, reference = contrasts["factor"].iloc[0], contrasts["reference"].iloc[0]
    assay = assay_level_contrasts(frame, response, factor, reference, seed, float(contrasts["ci_level"].iloc[0]))
    table = contrasts.merge(assay, on="level", how="left")
    table["agreement"] = [agreement(*values) for values in zip(
        table["p_adjusted"], table["estimate"], table["assay_p_adjusted"], table["assay_mean_difference"], strict=True)]
    return table


def disagreement_notes(table: pd.DataFrame, name: str) -> list[str]:
    """Sentences for the contrasts significant at fold level but not over assays (or the other way)."""
    notes = []
    for row in table.itertuples(index=False):
        wins = f"{row.level} better on {row.assay_wins_level} of {row.assay_n} assays"
        if row.agreement == "fold level only":
            notes.append(f"{name}: {row.contrast} is significant at fold level (mixed model, adjusted p = "
                         f"{row.p_adjusted:.2g}) but not across assays (Wilcoxon, adjusted p = "
                         f"{row.assay_p_adjusted:.2g}; {wins}): the fold-level p counts each assay's outer folds as "
                         "independent observations")
        elif row.agreement in ("assay level only", "opposite directions"):
            notes.append(f"{name}: {row.contrast}: fold level (adjusted p = {row.p_adjusted:.2g}) and assay level "
                         f"(adjusted p = {row.assay_p_adjusted:.2g}; {wins}) disagree ({row.agreement})")
    return notes


# --------------------------------------------------------------------------- robustness of the study's claims

QUESTIONS = {
    "pretrained": "a pretrained pLM beats one-hot",
    "pooling": "mean pooling beats the other compressions",
    "size": "a bigger model beats the next smaller one",
}
ROBUSTNESS_COLUMNS = ["question", PROTOCOL, "claim", "factor", "within", "better", "worse", "n_assays",
                      "wins_better", "wins_worse", "mean_difference", "ci_low", "ci_high", "wilcoxon_p",
                      "p_adjusted", "fold_estimate", "fold_p", "verdict"]


def claim_pairs(frame: pd.DataFrame, reference_method: str = "mean", baseline: str | None = None):
    """The comparisons that test the study's three claims on these results, as
    ``(question, factor, within, better, worse, rows)``: ``better`` is the side the claim favours.

    pretrained: each pretrained model's ``reference_method`` against the one-hot baseline (its one
    method, relabelled: :func:`method_rows`); pooling: within each model, ``reference_method``
    against every other method; size: within each model family, each model's ``reference_method``
    against the next smaller model's. Models with random weights make no claims.
    """
    baseline = BASELINE if baseline is None else baseline
    real = frame[~frame["Random_weights"].astype(bool)] if "Random_weights" in frame else frame
    pairs = []
    within_method = method_rows(real, reference_method)
    pretrained = sorted(set(within_method["Embedding_model"]) - {baseline})
    if baseline in set(within_method["Embedding_model"]):
        for model in pretrained:
            pairs.append(("pretrained", "Embedding_model", reference_method, model, baseline,
                          within_method[within_method["Embedding_model"].isin([model, baseline])]))
    for model, rows in real.groupby("Embedding_model", sort=True):
        methods = set(rows["Compression_method"])
        if reference_method in methods:
            for other in sorted(methods - {reference_method}):
                pairs.append(("pooling", "Compression_method", str(model), reference_method, other,
                              rows[rows["Compression_method"].isin([reference_method, other])]))
    own = real[(real["Compression_method"] == reference_method) & (real["Embedding_model"] != baseline)]
    sizes = own.groupby("Embedding_model")[["Parameters", "Model_family"]].first()
    sizes = sizes[np.isfinite(sizes["Parameters"].astype(float))]
    for _, family in sizes.groupby("Model_family", sort=True):
        ordered = family.sort_values("Parameters", kind="stable").index.tolist()
        for smaller, bigger in zip(ordered, ordered[1:], strict=False):
            pairs.append(("size", "Embedding_model", reference_method, bigger, smaller,
                          own[own["Embedding_model"].isin([smaller, bigger])]))
    return pairs


def verdict(p_adjusted: float, difference: float, n_assays: int, alpha: float = SIGNIFICANCE) -> str:
    """``holds`` / ``reverses`` (significant over assays, for the claim or against it) / ``not significant``."""
    if n_assays == 0:
        return "no data"
    if not p_adjusted < alpha:
        return "not significant"
    return "holds" if difference > 0 else "reverses"


def robustness_table(frame: pd.DataFrame, response: str = "R2_score_test", reference_method: str = "mean",
                     baseline: str | None = None, seed: int = 0, fold_level: bool = True) -> pd.DataFrame:
    """The study's three claims under every protocol of the results, each with an assay-level verdict.

    For each protocol (the study's first) and each comparison of :func:`claim_pairs` on its
    informative rows (:func:`uninformative_inputs` left out): assay wins, the mean per-assay
    difference (better - worse) with its bootstrap CI, the Wilcoxon p over assays and its Holm
    adjustment within (question, protocol), the fold-level mixed-model estimate and p of the two
    levels alone (``fold_level``; the study's model), and the :func:`verdict` from the assay level.
    """
    rows = []
    for protocol in protocols(frame):
        own = frame[frame[PROTOCOL].astype(str) == protocol] if PROTOCOL in frame else frame
        own = informative_rows(own, uninformative_inputs(own, reference_method))
        for question, factor, within, better, worse, pair in claim_pairs(own, reference_method, baseline):
            test = assay_level_test(paired_assay_differences(pair, response, factor, better, worse), seed)
            fold_estimate = fold_p = math.nan
            if fold_level:
                try:
                    fit = fit_contrasts(pair, response, factor, worse, adjust="none", seed=seed).contrasts
                    fold_estimate, fold_p = float(fit["estimate"].iloc[0]), float(fit["p_value"].iloc[0])
                except UserError:
                    pass
            rows.append({"question": question, PROTOCOL: protocol, "claim": f"{better} > {worse}",
                         "factor": factor, "within": within, "better": better, "worse": worse,
                         "n_assays": test["assay_n"], "wins_better": test["assay_wins_level"],
                         "wins_worse": test["assay_wins_reference"], "mean_difference": test["assay_mean_difference"],
                         "ci_low": test["assay_ci_low"], "ci_high": test["assay_ci_high"],
                         "wilcoxon_p": test["assay_wilcoxon_p"], "fold_estimate": fold_estimate, "fold_p": fold_p})
    table = pd.DataFrame(rows, columns=[c for c in ROBUSTNESS_COLUMNS if c not in ("p_adjusted", "verdict")])
    table["p_adjusted"] = math.nan
    for _, index in table.groupby(["question", PROTOCOL], sort=False).groups.items():
        table.loc[index, "p_adjusted"] = holm(table.loc[index, "wilcoxon_p"])
    table["verdict"] = [verdict(p, d, n) for p, d, n in zip(
        table["p_adjusted"], table["mean_difference"], table["n_assays"], strict=True)]
    order = {question: rank for rank, question in enumerate(QUESTIONS)}
    table = table.sort_values("question", key=lambda q: q.map(order), kind="stable")
    return table[ROBUSTNESS_COLUMNS].reset_index(drop=True)
