"""The bash drivers' engine: their flags become a Snakemake run of the study workflow, then a summary.

``run_<stage>_<SET>.sh`` calls ``python -m plmtransfer.workflow.sweep SET STAGE NAME [flags]``. The flags
(``--root``, ``--datasets``, ``--models``, ...; ``PLMTRANSFER_*`` environment variables) become
Snakemake targets and the run's configuration over ``config/study.yaml``; Snakemake decides what is out of date and
runs it (``--keep-going``, ``--rerun-triggers mtime``, ``--rerun-incomplete``); its output is read back
for a summary that names each failed job and its log, and the methods each model got.
Exit status: 0, 1 when anything failed, 2 for a usage error.

Before Snakemake starts, the configuration files and the flags are validated
(:mod:`plmtransfer.workflow.validation`: one line per mistake, nothing submitted); the resolved
configuration is written under the root (:data:`RUN_CONFIG`), so that every job, wherever a
cluster runs it, reads it there; a lock that a killed run left in ``<root>/.snakemake/locks`` is
cleared when the processes recorded beside it (:data:`LOCK_OWNERS`) are gone, and refused with
their PID while one of them runs.

Snakemake runs as a child process and its printed output is parsed, although Snakemake 9 has a
Python API (``snakemake.api.SnakemakeApi``): the API returns nothing about jobs (per-job starts,
failures and their logs reach only logging handlers, which are logger plugins registered by
package entry points), it would run Snakemake in the driver's interpreter rather than the one
``--python`` names, and a child process is what lets the driver pass SIGINT/SIGTERM on and still
read the outcome to the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from plmtransfer import config as study_config
from plmtransfer import layout
from plmtransfer.errors import UserError
from plmtransfer.options import positive_int
from plmtransfer.stages import COMPRESS_STEP, LEARNING_CURVE_STEP, STEP_NAMES, WORKFLOW_STEPS
from plmtransfer.workflow import study, validation
from plmtransfer.workflow.snakemake_main import COMMAND as SNAKEMAKE

# The environment of a job that shares the machine's cores with others: one BLAS/OpenMP thread
ONE_THREAD_ENV = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
STAGES = STEP_NAMES
ALL = "all"
DESCRIPTIONS = {**{stage.step: stage.step_summary for stage in WORKFLOW_STEPS},
                ALL: "the whole {set} sweep: {stages}"}
MODES = (study.POOL_MODE, study.PER_TOKEN_MODE)
# How the drivers' help names a family's embedding unit and its data sets
UNIT_WORDS = {layout.DMS: ("DMS assay", "assay"),
              layout.PISCES: ("PISCES chain set (one extraction per model)", "target"),
              "FLIP": ("FLIP GB1 variant set (one extraction per model for the five splits)", "split")}
REPOSITORY = Path(__file__).resolve().parents[2]
# The data mirror a checkout finds without --mirror: the data root beside the repository (as run_demo.sh)
DEFAULT_MIRROR = REPOSITORY.parent / "shared" / "data"
# The run's resolved configuration, under the root: every job of the run reads it
RUN_CONFIG = Path(".plmtransfer") / "config.yaml"
# Snakemake's locks under the root, and beside them the processes of the driver run that holds them
LOCK_DIR = Path(".snakemake") / "locks"
LOCK_OWNERS = LOCK_DIR / "plmtransfer-owners.txt"
# The values of workflow/profiles/slurm/config.yaml that a cluster user replaces, and the flag that does it
SLURM_PLACEHOLDERS = {"ACCOUNT": "--slurm-account", "CPU_PARTITION": "--partition", "GPU_PARTITION": "--partition"}


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
    set_stages = [s for s in STAGES if s != LEARNING_CURVE_STEP or learning_curves(set_name)]
    units, dataset = UNIT_WORDS[set_name]
    description = DESCRIPTIONS[stage].format(set=set_name, stages=" -> ".join(set_stages), units=units,
                                             dataset=dataset)
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
                        "'--solver fast' [PLMTRANSFER_STAGE_ARGS]")
    parser.add_argument("--cv", default=env("CV"),
                        help="outer CV schemes of the regressions and statistics (comma/space separated): "
                        "random (the study's), contiguous, modulo, predefined (the metadata's set column); each "
                        "scheme but random writes results/lassoCV_<scheme>/ and results/stats_<scheme>/ "
                        "[PLMTRANSFER_CV] "
                        "(default: the set's cv in config/study.yaml, else cv there: random; FLIP: predefined, "
                        "each split's own train/test set)")
    parser.add_argument("--layers", default=env("LAYERS"), metavar="last|all|L,L,...",
                        help="each model's layers, a layer sweep: last (its own layer, the study's), all (0, the "
                        "token embedding, to its last) or layer numbers; one extraction pass pools them all, then "
                        "compression and regression run per layer, a layer other than the model's own writing "
                        "results/lassoCV_L<layer>/ (the statistics cover each model's own layer) [PLMTRANSFER_LAYERS] "
                        "(default: layers in config/study.yaml: last; replaces the set's and the models' own)")
    parser.add_argument("--protocols", default=env("PROTOCOLS"),
                        help="regression protocols, reg_lassoCV.py --inner-cv (comma/space separated): study (the "
                        "study's), shuffled, grouped; each but study writes results/lassoCV_<protocol>/ and "
                        "results/stats_<protocol>/ [PLMTRANSFER_PROTOCOLS] (default: protocols in "
                        "config/study.yaml: study)")
    parser.add_argument("--solver", default=env("SOLVER"),
                        help="how the regressions solve LassoCV, reg_lassoCV.py --solver: compiled (LassoCV's search "
                        "compiled: its alpha, several times faster), sklearn (scikit-learn's LassoCV, the study's "
                        "code) or fast (an early stop, for exploring) [PLMTRANSFER_SOLVER] (default: solver in "
                        "config/study.yaml: compiled)")
    parser.add_argument("--python", default=os.environ.get("PYTHON", ""),
                        help="Python interpreter of the stage commands [PYTHON] (default: this one)")
    parser.add_argument("--mode", choices=MODES, default=env("EXTRACT_MODE", default_mode(stage)),
                        help="pool: extract.py --pool writes the compressed files directly; per_tok: fair-esm "
                        "per-sequence .pt files, then compress.py (as the study did) [PLMTRANSFER_EXTRACT_MODE]")
    parser.add_argument("--profile", default=env("PROFILE", "local"),
                        help="Snakemake profile (workflow/profiles/): local (one extraction at a time holds the "
                        "GPU), cpu (no GPU: extractions side by side), slurm; or a directory [PLMTRANSFER_PROFILE]")
    parser.add_argument("--configfile", default=env("CONFIGFILE"),
                        help="a YAML file overriding config/study.yaml [PLMTRANSFER_CONFIGFILE]")
    parser.add_argument("--mirror", default=env("MIRROR"), metavar="DIR",
                        help="the data mirror (the data root holding dms/, pisces/, flip_gb1/) the preparation "
                        "jobs read [PLMTRANSFER_MIRROR] (default: mirror in the config file, else ../shared/data "
                        "beside the repository when present)")
    parser.add_argument("--slurm-account", default=env("SLURM_ACCOUNT"), metavar="NAME",
                        help="with --profile slurm: the Slurm account of every job [PLMTRANSFER_SLURM_ACCOUNT] "
                        "(default: the profile's)")
    parser.add_argument("--partition", default=env("PARTITION"), metavar="CPU[,GPU]",
                        help="with --profile slurm: the partition of the jobs, and after a comma the one of the "
                        "GPU jobs (default: the same) [PLMTRANSFER_PARTITION] (default: the profile's)")
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
    return study.PER_TOKEN_MODE if stage == COMPRESS_STEP else study.POOL_MODE


def learning_curves(set_name: str) -> bool:
    """Whether the study configuration runs learning curves for a data-set family."""
    return bool(study_config.load_config()["sets"][set_name].get("learning_curves"))


@dataclass
class Plan:
    """What one driver run asks Snakemake for, and the items it could not plan."""

    config: dict
    datasets: list[str]
    models: list[study.ModelPlan]
    failed: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def resolve_datasets(args, config: dict, set_name: str, root: Path, plan: Plan) -> None:
    """The data sets to run: defaults present under data/ (absent ones noted once), 'all', or the list.

    A name given in the list is one of the configuration's, one prepared under the root's data/,
    or (DMS) one the mirror holds; anything else is a usage error before any job starts.
    """
    requested = study.split_list(args.datasets)
    if not requested:
        defaults = study_config.datasets(config, set_name)
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
        listed = study_config.datasets(config, set_name) + study.present_datasets(root, set_name)
        mirror = Path(config.get("mirror") or "") / validation.MIRROR_FOLDERS[set_name]
        in_mirror = [name for name in requested
                     if config.get("mirror") and any(path.is_file() for path in layout.mirror_candidates(mirror, name))]
        validation.check_datasets(requested, listed + in_mirror, "--datasets")
        plan.datasets = requested


def resolve_mirror(args, config: dict) -> None:
    """The run's mirror, an absolute path: --mirror, else the config's, else ../shared/data when present."""
    mirror = args.mirror or config.get("mirror") or (str(DEFAULT_MIRROR) if DEFAULT_MIRROR.is_dir() else "")
    if mirror and not Path(mirror).expanduser().is_dir():
        raise UserError(f"--mirror {mirror}: no such directory (the data root holding dms/ and pisces/)")
    config["mirror"] = str(Path(mirror).expanduser().resolve()) if mirror else ""


def check_flags(args, config: dict) -> None:
    """The names on the command line: --models and --methods, each mistake one line with a near miss."""
    for entry in study.split_models(args.models):
        validation.check_model(entry, "--models")
        validation.check_methods(study.split_list(entry.partition(":")[2].partition(":")[2]), config, "--models")
    validation.check_methods(study.split_list(args.methods), config, "--methods")
    validation.check_names(study.split_list(args.cv), validation.CV_SCHEMES, "--cv")
    validation.check_names(study.split_list(args.protocols), validation.INNER_CV_SCHEMES, "--protocols")
    validation.check_names(study.split_list(args.solver), validation.SOLVERS, "--solver")
    validation.check_layers(args.layers, "--layers")


def layers_setting(text: str) -> str | list[int]:
    """The ``layers`` value of a ``--layers`` flag (checked by :func:`check_flags`): a word, or layer numbers."""
    words = study.split_list(text)
    return [int(word) for word in words] if words[0].isdigit() else words[0]


def resolve_models(config: dict, set_name: str, plan: Plan) -> None:
    """Plan each model entry; an entry that cannot be resolved is a failed item, the others go on."""
    for entry in study.split_models(config["models"]):
        try:
            plan.models.append(study.plan_model(entry, config, set_name))
        except UserError as error:
            plan.failed.append((entry, str(error)))


def make_plan(args, set_name: str, stage: str, root: Path) -> Plan:
    """The run's configuration (study config + config file + flags, each validated), data sets and models."""
    config = validation.check_file(study_config.study_config_path())
    if args.configfile:
        merge(config, validation.check_file(args.configfile))
    validation.check_plan(config, args.configfile or str(study_config.study_config_path()))
    check_flags(args, config)
    resolve_mirror(args, config)
    if args.models:
        config["models"] = study.split_models(args.models)
    config["methods"] = study.split_list(args.methods) or study.split_list(config.get("methods"))
    if args.cv:  # the flag replaces the set's own schemes too
        config["cv"] = config["sets"][set_name]["cv"] = study.split_list(args.cv)
    if args.layers:  # the flag replaces the set's and the models' own layers too
        config["layers"] = config["sets"][set_name]["layers"] = layers_setting(args.layers)
        for defaults in (config.get("model_defaults") or {}).values():
            (defaults or {}).pop("layers", None)
    if args.protocols:
        config["protocols"] = study.split_list(args.protocols)
    if args.solver:
        config["solver"] = args.solver
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
    shipped = study_config.resource_dir("workflow") / "profiles"
    path = shipped / profile if (shipped / profile).is_dir() else Path(profile)
    if not (path / "config.yaml").is_file():
        names = sorted(folder.name for folder in shipped.iterdir() if (folder / "config.yaml").is_file())
        raise UserError(f"no Snakemake profile '{profile}' (use {', '.join(names)} or a directory with a config.yaml)")
    return path.resolve()


def read_profile(profile: Path) -> dict:
    """A profile's settings (its config.yaml)."""
    return yaml.safe_load((profile / "config.yaml").read_text()) or {}


def slurm_plugin_installed() -> bool:
    """Whether Snakemake's Slurm executor plugin (the project's optional extra ``slurm``) is importable."""
    return importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None


def assignments(value) -> dict[str, str]:
    """A profile entry as {key: value}: a mapping, or a list of ``key=value`` (as on the command line)."""
    if isinstance(value, dict):
        return {str(key): str(item) for key, item in value.items()}
    return dict(str(item).split("=", 1) for item in value or [])


def cluster_arguments(args, profile: Path) -> list[str]:
    """Snakemake arguments for a Slurm profile: the account and partitions of the flags; UserError if unusable.

    Without the executor plugin a Slurm profile cannot start; a placeholder of the shipped profile
    (ACCOUNT, CPU_PARTITION, GPU_PARTITION) that no flag replaces would reach sbatch.
    """
    settings = read_profile(profile)
    if settings.get("executor") != "slurm":
        return []
    if not slurm_plugin_installed():
        raise UserError("the slurm profile needs the Snakemake Slurm executor plugin: pip install -e '.[slurm]' "
                        "(in the repository; or pip install 'plmtransfer[slurm]')")
    resources = assignments(settings.get("default-resources"))
    config = assignments(settings.get("config"))
    cpu, _, gpu = (args.partition or "").partition(",")
    if args.slurm_account:
        resources["slurm_account"] = args.slurm_account
    if cpu:
        resources["slurm_partition"] = cpu
        config["gpu_partition"] = gpu or cpu
    left = [value for value in (*resources.values(), *config.values()) if value in SLURM_PLACEHOLDERS]
    if left:
        flags = " and ".join(dict.fromkeys(SLURM_PLACEHOLDERS[value] for value in left))
        raise UserError(f"the slurm profile still has the placeholder(s) {', '.join(left)}: pass {flags} "
                        f"(e.g. --slurm-account myaccount --partition cpu,gpu) or edit {profile / 'config.yaml'}")
    if not (args.slurm_account or cpu):
        return []
    # on the command line these replace the profile's whole entries: so all of them, with the flags' values
    return ["--default-resources", *(f"{key}={value}" for key, value in resources.items()),
            "--config", *(f"{key}={value}" for key, value in config.items())]


def submits_jobs(profile: Path) -> bool:
    """Whether a profile hands jobs to a cluster executor (its ``executor``): ``--jobs`` is then the
    number of jobs submitted at once; a local profile takes ``--cores``."""
    return read_profile(profile).get("executor", "local") not in ("local", "dryrun", "touch")


def snakemake_command(args, plan: Plan, set_name: str, stage: str, root: Path, profile: Path,
                      cluster: list[str]) -> list[str]:
    """The Snakemake command line of a driver run (its configuration is the root's :data:`RUN_CONFIG`)."""
    stages = [s for s in STAGES if s != LEARNING_CURVE_STEP or plan.config["sets"][set_name].get("learning_curves")]
    targets = [f"{s}_{set_name}" for s in (stages if stage == ALL else [stage])]
    parallel = ["--jobs", str(args.jobs)] if submits_jobs(profile) else ["--cores", str(args.jobs)]
    command = [*SNAKEMAKE, "--snakefile", str(study_config.resource_dir("workflow") / "Snakefile"),
               "--directory", str(root), "--profile", str(profile), *parallel,
               "--configfile", str(root / RUN_CONFIG), *cluster,
               "--keep-going", "--rerun-triggers", "mtime", "--rerun-incomplete", "--printshellcmds"]
    if args.dry_run:
        command.append("--dry-run")
    return [*command, *targets]


def write_run_config(root: Path, config: dict) -> None:
    """Write the run's resolved configuration to ``<root>/.plmtransfer/config.yaml`` (temporary file, rename)."""
    path = root / RUN_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(yaml.safe_dump(config, sort_keys=False))
    partial.replace(path)


def process_start(pid: int) -> str | None:
    """A process's start time (Linux /proc, clock ticks since boot), None where /proc does not say."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]  # a zombie has ended


def is_running(pid: int, start: str) -> bool:
    """Whether the process ``pid`` that started at ``start`` still runs (not another one that reused its PID)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    now = process_start(pid)
    if now is None:  # a zombie (it has ended), or a system without /proc (the PID is all there is)
        return not Path("/proc").is_dir()
    return now == start


def record_lock_owners(root: Path, pids: list[int]) -> None:
    """Record beside Snakemake's lock the processes of this run (``PID start-time`` per line)."""
    path = root / LOCK_OWNERS
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{pid} {process_start(pid) or ''}\n" for pid in pids))


def clear_stale_lock(root: Path) -> str | None:
    """Clear a lock that a killed driver run left; UserError while a process of that run still runs.

    Returns a note when a lock was cleared. A lock without the owners' record (a plain ``snakemake``
    run's) is left to Snakemake.
    """
    locks = root / LOCK_DIR
    owners_file = root / LOCK_OWNERS
    if not list(locks.glob("*.lock")) or not owners_file.is_file():
        return None
    owners = [line.split() + [""] for line in owners_file.read_text().splitlines() if line.strip()]
    running = [int(owner[0]) for owner in owners if is_running(int(owner[0]), owner[1])]
    if running:
        raise UserError(f"{root} is locked by a running driver run (PID {running[0]}): wait for it to end, "
                        f"or stop it with `kill {running[0]}`")
    shutil.rmtree(locks)
    return f"cleared the lock that an interrupted run (PID {owners[0][0]}) left in {locks}"


@dataclass
class Outcome:
    """What a Snakemake run reported: jobs finished, failed jobs (rule, log), planned jobs, errors."""

    done: int = 0
    planned: int = 0
    up_to_date: bool = False
    failed: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


TARGET_RULE = re.compile(r"(all|(" + "|".join(STAGES) + r")_(" + "|".join(validation.MIRROR_FOLDERS) + r"))$")


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

    The driver's and Snakemake's PIDs are recorded beside Snakemake's lock (:func:`record_lock_owners`),
    so that a re-run after a SIGKILL finds the lock stale (:func:`clear_stale_lock`).

    ``output``: ``quiet`` shows nothing, ``progress`` the job starts, failures and progress
    (:func:`progress_line`), ``verbose`` all of Snakemake's output. SIGINT and SIGTERM are passed
    on to Snakemake and its output is read to the end: Snakemake then stops (SIGINT: its jobs at
    once, deleting their partial outputs; SIGTERM: once its running jobs have finished, see
    :mod:`plmtransfer.workflow.snakemake_main`) and releases its lock, so a re-run resumes.
    """
    lines = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
        if not dry_run:
            record_lock_owners(root, [os.getpid(), process.pid])

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
    if not dry_run:  # Snakemake has released its lock, or never took it (another run's): the record goes too
        (root / LOCK_OWNERS).unlink(missing_ok=True)
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
    return f"{parts[1]} {'/'.join(parts[2:])}" if len(parts) > 2 and parts[0] == layout.LOGS_DIR else rule


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
    """``python -m plmtransfer.workflow.sweep SET STAGE NAME [flags]``: one driver run."""
    argv = sys.argv[1:] if argv is None else argv
    set_name, stage, name, *flags = argv
    args = create_parser(name, set_name, stage).parse_args(flags)
    root = Path(args.root).resolve()
    try:
        plan = make_plan(args, set_name, stage, root)
        profile = profile_dir(args.profile)
        cluster = cluster_arguments(args, profile)
        cleared = None if args.dry_run else clear_stale_lock(root)
    except UserError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
    for note in plan.notes + ([cleared] if cleared else []):
        if not args.quiet:
            print(f"{name}: {note}")
    if not plan.models or not plan.datasets:
        print(f"{name}: nothing to run: {'no data set present' if plan.models else 'no usable model'}")
        return report(name, plan, Outcome(), 0, root, args.dry_run)
    if args.dry_run and not args.quiet:
        print(f"{name}: dry run: printing the commands that would run, running nothing")
    write_run_config(root, plan.config)
    command = snakemake_command(args, plan, set_name, stage, root, profile, cluster)
    output = "quiet" if args.quiet else "verbose" if args.verbose else "progress"
    status, lines = run_snakemake(command, output, root, name, args.dry_run)
    return report(name, plan, read_outcome(lines), status, root, args.dry_run)

if __name__ == "__main__":
    sys.exit(main())
