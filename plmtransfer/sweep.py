"""The bash drivers' engine: their flags become a Snakemake run of the study workflow, then a summary.

``run_<stage>_<SET>.sh`` calls ``python -m plmtransfer.sweep SET STAGE NAME [flags]``. The flags
(``--root``, ``--datasets``, ``--models``, ...; ``PLMTRANSFER_*`` environment variables) become
Snakemake targets and a config file over ``config/study.yaml``; Snakemake decides what is out of date and runs it
(``--keep-going``, ``--rerun-triggers mtime``, ``--rerun-incomplete``); its output is read back
for a summary that names each failed job and its log, and the methods each model got.
Exit status: 0, 1 when anything failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from plmtransfer import study
from plmtransfer.cli import positive_int
from plmtransfer.errors import UserError
from plmtransfer.options import CV_SCHEMES
from plmtransfer.snakemake_main import COMMAND as SNAKEMAKE

# The environment of a job that shares the machine's cores with others: one BLAS/OpenMP thread
ONE_THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
STAGES = ("extraction", "compression", "lassoCV", "lassoCV_sampling", "stats")
ALL = "all"
DESCRIPTIONS = {
    "extraction": "extract embeddings of each {units} for each model (scripts/extract.py)",
    "compression": "compress per-token embeddings of each {units} into one vector per protein "
                   "(scripts/compress.py)",
    "lassoCV": "LassoCV regression (scripts/reg_lassoCV.py) per {dataset}, model and compression method",
    "lassoCV_sampling": "learning curves: LassoCV on subsamples (scripts/reg_lassoCV_sampling.py) per "
                        "{dataset}, model and method",
    "stats": "mixed-effects statistics and figures over the {set} results (scripts/stats.py report)",
    ALL: "the whole {set} sweep: {stages}",
}
MODES = (study.POOL_MODE, study.PER_TOKEN_MODE)


class DriverParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line: ``<driver>: error: <message>``, exit 2."""

    def error(self, message: str):
        """Print one line and exit 2 (a usage error: nothing was run)."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def env(name: str, default: str = "") -> str:
    """The ``PLMTRANSFER_<name>`` environment variable (the flags' defaults)."""
    return os.environ.get(f"PLMTRANSFER_{name}", default)


def create_parser(name: str, set_name: str, stage: str) -> DriverParser:
    """The drivers' command line: the same flags for every stage, defaults from the environment."""
    set_stages = [s for s in STAGES if s != "lassoCV_sampling" or learning_curves(set_name)]
    description = DESCRIPTIONS[stage].format(
        set=set_name, stages=" -> ".join(set_stages),
        units="DMS assay" if set_name == "DMS" else "PISCES chain set (one extraction per model)",
        dataset="assay" if set_name == "DMS" else "target")
    epilog = ("Snakemake decides what is out of date (an output missing, or older than an input) and runs only "
              "that; a failing job is logged under <root>/logs/<stage>/ and the others go on; the summary names "
              "the failed jobs and their logs and the methods each model got; exit status 1 if anything failed "
              "(2 for a usage error). See docs/drivers.md.")
    parser = DriverParser(prog=name, description=f"{name}: {description}.", epilog=epilog)
    parser.add_argument("--root", default=env("ROOT", "."),
                        help="where data/, embeddings/, results/, figures/, logs/ live [PLMTRANSFER_ROOT] (default: .)")
    parser.add_argument("--datasets", default=env("DATASETS"),
                        help="data sets (comma/space separated); 'all' = every one under the root's data/ "
                        "[PLMTRANSFER_DATASETS] (default: the study's list in config/study.yaml; those absent "
                        "from data/ are listed once and not run)")
    parser.add_argument("--models", default=env("MODELS"),
                        help="space-separated NAME[:LAYER[:METHOD,...]]: a registry name or alias (esm2_150M), "
                        "onehot, a Hugging Face directory or hub name, an ESM C .pth or a fair-esm .pt; LAYER "
                        "defaults to the model's last "
                        "[PLMTRANSFER_MODELS] (default: the study's models in config/study.yaml)")
    parser.add_argument("--methods", default=env("METHODS"),
                        help="compression methods for every model (methods a model cannot give, such as bos for "
                        "onehot, are dropped) [PLMTRANSFER_METHODS] (default: each model's own for this data "
                        "set: esm2_150M the study's 14, onehot flat on DMS and mean on PISCES, others mean)")
    parser.add_argument("--jobs", type=positive_int, default=env("JOBS", "1"),
                        help="local: CPU cores Snakemake may use; with a cluster --profile: jobs submitted at "
                        "once [PLMTRANSFER_JOBS] (default: 1)")
    parser.add_argument("--stage-args", default=env("STAGE_ARGS"),
                        help="extra arguments appended to every stage command, e.g. '--nogpu' or "
                        "'--fast' [PLMTRANSFER_STAGE_ARGS]")
    parser.add_argument("--cv", default=env("CV"),
                        help="outer CV schemes of the regressions and statistics (comma/space separated): "
                        "random (the study's), contiguous, modulo; each scheme but random writes "
                        "results/lassoCV_<scheme>/ and results/stats_<scheme>/ [PLMTRANSFER_CV] "
                        "(default: cv in config/study.yaml: random)")
    parser.add_argument("--python", default=os.environ.get("PYTHON", ""),
                        help="Python interpreter of the stage commands [PYTHON] (default: this one)")
    parser.add_argument("--mode", choices=MODES, default=env("EXTRACT_MODE", default_mode(stage)),
                        help="pool: extract.py --pool writes the compressed files directly; per_tok: fair-esm "
                        "per-sequence .pt files, then compress.py (as the study did) [PLMTRANSFER_EXTRACT_MODE]")
    parser.add_argument("--profile", default=env("PROFILE", "local"),
                        help="Snakemake profile: local, slurm (workflow/profiles/) or a directory "
                        "[PLMTRANSFER_PROFILE]")
    parser.add_argument("--configfile", default=env("CONFIGFILE"),
                        help="a YAML file overriding config/study.yaml [PLMTRANSFER_CONFIGFILE]")
    parser.add_argument("--dry-run", action="store_true", default=env("DRY_RUN") == "1",
                        help="print the jobs and commands that would run, run nothing [PLMTRANSFER_DRY_RUN=1]")
    parser.add_argument("--quiet", action="store_true", default=env("QUIET") == "1",
                        help="only the summary and errors [PLMTRANSFER_QUIET=1]")
    parser.add_argument("--verbose", action="store_true", default=env("VERBOSE") == "1",
                        help="all of Snakemake's output (default: one line per job started or failed) "
                        "[PLMTRANSFER_VERBOSE=1]")
    return parser


def default_mode(stage: str) -> str:
    """The compression driver compresses per-token dumps; every other stage pools at extraction."""
    return study.PER_TOKEN_MODE if stage == "compression" else study.POOL_MODE


def learning_curves(set_name: str) -> bool:
    """Whether the study configuration runs learning curves for a data-set family."""
    return bool(study.load_config()["sets"][set_name].get("learning_curves"))


@dataclass
class Plan:
    """What one driver run asks Snakemake for, and the items it could not plan."""

    config: dict
    datasets: list[str]
    models: list[study.ModelPlan]
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def resolve_datasets(args, config: dict, set_name: str, root: Path, plan: Plan) -> None:
    """The data sets to run: defaults present under data/ (absent ones noted once), 'all', or the list."""
    requested = study.split_list(args.datasets)
    if not requested:
        defaults = study.datasets(config, set_name)
        plan.datasets = [name for name in defaults if study.is_prepared(root, config, set_name, name)]
        absent = [name for name in defaults if name not in plan.datasets]
        if absent:
            plan.notes.append(f"{len(absent)} of {len(defaults)} default data sets are not in {root}/data and "
                              f"are not run: {' '.join(absent)}")
    elif requested == [ALL]:
        plan.datasets = study.present_datasets(root, set_name)
        if not plan.datasets:
            plan.notes.append(f"no data sets found under {root}/data")
    else:
        plan.datasets = requested


def resolve_models(config: dict, set_name: str, plan: Plan) -> None:
    """Plan each model entry; an entry that cannot be resolved is a failed item, the others go on."""
    for entry in study.split_models(config["models"]):
        try:
            plan.models.append(study.plan_model(entry, config, set_name))
        except UserError as error:
            plan.failed.append((entry, str(error)))


def make_plan(args, set_name: str, stage: str, root: Path) -> Plan:
    """The run's configuration (study config + config file + flags), data sets and models."""
    config = study.load_config()
    if args.configfile:
        merge(config, study.load_config(args.configfile))
    if args.models:
        config["models"] = study.split_models(args.models)
    config["methods"] = study.split_list(args.methods) or study.split_list(config.get("methods"))
    if args.cv:
        config["cv"] = study.split_list(args.cv)
    unknown = [scheme for scheme in study.split_list(config.get("cv")) if scheme not in CV_SCHEMES]
    if unknown:
        raise UserError(f"unknown CV scheme(s) {', '.join(unknown)}: use {', '.join(CV_SCHEMES)}")
    plan = Plan(config, [], [])
    resolve_datasets(args, config, set_name, root, plan)
    resolve_models(config, set_name, plan)
    config["sets"][set_name]["datasets"] = plan.datasets
    config["models"] = [model.entry for model in plan.models]
    config.update(run_sets=[set_name], extract_mode=args.mode, stage_args=args.stage_args,
                  stages=list(STAGES) if stage == ALL else [stage])
    if args.python:
        config["python"] = args.python
    return plan


def merge(base: dict, override: dict) -> None:
    """Merge a user config into the study config, dict by dict (as Snakemake merges config files)."""
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value


def profile_dir(profile: str) -> Path:
    """A profile name under workflow/profiles/, or a directory."""
    named = study.resource_dir("workflow") / "profiles" / profile
    path = named if named.is_dir() else Path(profile)
    if not (path / "config.yaml").is_file():
        raise UserError(f"no Snakemake profile '{profile}' (use local, slurm or a directory with a config.yaml)")
    return path.resolve()


def snakemake_command(args, plan: Plan, set_name: str, stage: str, root: Path, profile: Path,
                      config_path: Path) -> list[str]:
    """The Snakemake command line of a driver run."""
    stages = [s for s in STAGES if s != "lassoCV_sampling" or plan.config["sets"][set_name].get("learning_curves")]
    targets = [f"{s}_{set_name}" for s in (stages if stage == ALL else [stage])]
    parallel = ["--cores", str(args.jobs)] if profile.name == "local" else ["--jobs", str(args.jobs)]
    command = [*SNAKEMAKE, "--snakefile", str(study.resource_dir("workflow") / "Snakefile"),
               "--directory", str(root), "--profile", str(profile), *parallel, "--configfile", str(config_path),
               "--keep-going", "--rerun-triggers", "mtime", "--rerun-incomplete", "--printshellcmds"]
    if args.dry_run:
        command.append("--dry-run")
    return [*command, *targets]


@dataclass
class Outcome:
    """What a Snakemake run reported: jobs finished, failed jobs (rule, log), planned jobs, errors."""

    done: int = 0
    planned: int = 0
    up_to_date: bool = False
    failed: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


TARGET_RULE = re.compile(r"(all|(" + "|".join(STAGES) + r")_(DMS|PISCES))$")


def read_outcome(lines: list[str]) -> Outcome:
    """Parse Snakemake's output: ``Finished jobid``, ``Error in rule`` blocks and their ``log:``, the job table."""
    outcome = Outcome()
    failing_rule = None
    job_table = False
    for line in lines:
        if line.startswith("Job stats:"):  # a dry run prints the table twice: count the last one
            job_table, outcome.planned = True, 0
        elif job_table and (match := re.fullmatch(r"(\S+)\s+(\d+)", line.strip())):
            job_table = match.group(1) != "total"
            outcome.planned += int(match.group(2)) * (job_table and not TARGET_RULE.match(match.group(1)))
        elif match := re.match(r"Finished jobid: \d+ \(Rule: (\S+)\)", line):
            outcome.done += not TARGET_RULE.match(match.group(1))
        elif match := re.match(r"Error in rule (\S+):", line):
            failing_rule = match.group(1)
            outcome.failed.append((failing_rule, ""))
        elif failing_rule and (match := re.match(r"\s+log: (\S+)", line)):
            outcome.failed[-1] = (failing_rule, match.group(1))
            failing_rule = None
        elif line.startswith("Nothing to be done"):
            outcome.up_to_date = True
        elif re.match(r"(\w+(Error|Exception)\b|Error:)", line) and "Error in rule" not in line:
            outcome.errors.append(line.strip())
    return outcome


def progress_line(line: str, root: Path, name: str, dry_run: bool) -> str | None:
    """What the drivers show of one line of Snakemake's output (None: nothing).

    A job's start as ``running <label> (log: <path>)`` (in a dry run, its command instead), a
    failure as ``FAILED <rule> (log: <path>)``, and the ``N of M steps`` progress.
    """
    if dry_run:
        command = line.removeprefix("Shell command: ").strip()
        return command if line.startswith("Shell command: ") and command != "None" else None
    if match := re.fullmatch(r"\s+log: (\S+)", line):
        return f"{name}: running {job_label('', match.group(1))} (log: {root / match.group(1)})"
    if match := re.match(r"\s+log: (\S+) \(check log", line):
        return f"{name}: FAILED {job_label('', match.group(1))} (log: {root / match.group(1)})"
    if re.match(r"\d+ of \d+ steps", line):
        return f"{name}: {line}"
    return None


def run_snakemake(command: list[str], output: str, root: Path, name: str, dry_run: bool) -> tuple[int, list[str]]:
    """Run Snakemake; return its exit status and output lines.

    ``output``: ``quiet`` shows nothing, ``progress`` the job starts, failures and progress
    (:func:`progress_line`), ``verbose`` all of Snakemake's output. SIGINT and SIGTERM are passed
    on to Snakemake and its output is read to the end: Snakemake then stops its jobs, deletes
    their partial outputs, marks them incomplete and releases its lock, so a re-run resumes.
    """
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        def forward(signum, _frame):
            process.send_signal(signum)

        previous = {signum: signal.signal(signum, forward) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            for line in process.stdout:
                lines.append(line.rstrip("\n"))
                if output == "verbose":
                    print(line, end="", flush=True)
                elif output == "progress" and (shown := progress_line(lines[-1], root, name, dry_run)):
                    print(shown, flush=True)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    return process.returncode, lines


def last_line(path: Path) -> str:
    """The last non-empty line of a log (the error message of most stage failures)."""
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1].strip() if lines else "(empty log)"


def job_label(rule: str, log: str) -> str:
    """A failed job's label: its log path under logs/<stage>/ without .log (``onehot/BROKEN``), else the rule."""
    parts = Path(log).with_suffix("").parts
    return f"{parts[1]} {'/'.join(parts[2:])}" if len(parts) > 2 and parts[0] == "logs" else rule


def report(name: str, plan: Plan, outcome: Outcome, status: int, root: Path, dry_run: bool) -> int:
    """Print the summary (stdout) and the failures (stderr); return the driver's exit status."""
    print(f"{name}: methods: {study.methods_line(plan.models) or 'no model'}")
    failures = [(label, detail) for label, detail in plan.failed]
    for rule, log in outcome.failed:
        path = root / log if log else None
        detail = f"log: {path}; last line: {last_line(path)}" if path else "no log"
        failures.append((job_label(rule, log), detail))
    if status != 0 and not outcome.failed:
        detail = "; ".join(outcome.errors[-3:]) or f"exit {status} (see the output above)"
        if "LockException" in detail:
            detail += (f" (a run killed with SIGKILL leaves its lock: if no other run uses {root}, "
                       f"`plmtransfer run -d {root} --unlock` releases it)")
        failures.append(("snakemake", detail))
    if dry_run:
        summary = f"{outcome.planned} jobs to run (dry run)"
    else:
        summary = f"{outcome.done} done, {len(failures)} failed"
        if outcome.up_to_date:
            summary += " (everything up to date)"
    print(f"{name}: summary: {summary}")
    if failures:
        print(f"{name}: failed:", file=sys.stderr)
        for label, detail in failures:
            print(f"  {label}: {detail}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m plmtransfer.sweep SET STAGE NAME [flags]``: one driver run."""
    argv = sys.argv[1:] if argv is None else argv
    set_name, stage, name, *flags = argv
    args = create_parser(name, set_name, stage).parse_args(flags)
    root = Path(args.root).resolve()
    try:
        plan = make_plan(args, set_name, stage, root)
        profile = profile_dir(args.profile)
    except UserError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
    for note in plan.notes:
        if not args.quiet:
            print(f"{name}: {note}")
    if not plan.models or not plan.datasets:
        print(f"{name}: nothing to run: {'no data set present' if plan.models else 'no usable model'}")
        return report(name, plan, Outcome(), 0, root, args.dry_run)
    if args.dry_run and not args.quiet:
        print(f"{name}: dry run: printing the commands that would run, running nothing")
    if not args.dry_run:
        root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="plmtransfer-sweep-") as scratch:
        config_path = Path(scratch) / "config.yaml"
        config_path.write_text(yaml.safe_dump(plan.config, sort_keys=False))
        command = snakemake_command(args, plan, set_name, stage, root, profile, config_path)
        output = "quiet" if args.quiet else "verbose" if args.verbose else "progress"
        status, lines = run_snakemake(command, output, root, name, args.dry_run)
    return report(name, plan, read_outcome(lines), status, root, args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
