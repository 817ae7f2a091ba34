"""The ``plmtransfer`` command: the study's stage commands and the whole workflow under one name.

``plmtransfer extract|compress|regress|sample|stats|plot|prepare-dms|prepare-pisces ARGS`` runs
the stage script of ``scripts/`` with ARGS (same flags, same help); ``plmtransfer run`` runs
Snakemake on the shipped workflow (``workflow/Snakefile`` over ``config/study.yaml``) in a
working directory, with a user config file and any further Snakemake options;
``plmtransfer completion bash`` prints a bash completion script (subcommands and each one's
flags): ``source <(plmtransfer completion bash)``. Nothing heavy is imported before a
subcommand is chosen, so ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata

STAGE_SCRIPTS = {
    "prepare-dms": ("prepare_dms.py", "prepare DMS assays (metadata CSV + FASTA)"),
    "prepare-pisces": ("prepare_pisces.py", "prepare the PISCES chain set and targets"),
    "extract": ("extract.py", "extract embeddings (fair-esm's extract.py arguments; --pool to compress on the fly)"),
    "compress": ("compress.py", "compress per-token embeddings into one vector per protein"),
    "regress": ("reg_lassoCV.py", "cross-validated LassoCV on compressed embeddings"),
    "sample": ("reg_lassoCV_sampling.py", "learning curves: LassoCV on subsamples of growing size"),
    "stats": ("stats.py", "summaries, mixed-effects contrasts, the whole report"),
    "plot": ("plot.py", "figures from result CSVs"),
}
RUN_HELP = "run the study workflow with Snakemake (config/study.yaml, overridable)"
COMPLETION_HELP = "print a bash completion script: source <(plmtransfer completion bash)"


def version() -> str:
    """The installed package's version (``unknown`` when run from a checkout that is not installed)."""
    try:
        return metadata.version("plmtransfer")
    except metadata.PackageNotFoundError:
        return "unknown"


def create_parser() -> argparse.ArgumentParser:
    """The top-level parser: one subcommand per stage, plus ``run``."""
    parser = argparse.ArgumentParser(
        prog="plmtransfer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
        epilog="each subcommand's own --help lists its flags, e.g. `plmtransfer regress --help`")
    parser.add_argument("--version", action="version", version=f"plmtransfer {version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in STAGE_SCRIPTS.items():
        commands.add_parser(name, help=help_text, add_help=False)
    run = commands.add_parser("run", help=RUN_HELP, description=RUN_HELP + ".", allow_abbrev=False, epilog=(
        "further arguments go to Snakemake, e.g. `--dry-run`, `--config models='[esm2_8M, onehot]'`, "
        "targets such as lassoCV_DMS; see docs/drivers.md"))
    add_run_arguments(run)
    completion = commands.add_parser("completion", help=COMPLETION_HELP, description=COMPLETION_HELP + ".")
    completion.add_argument("shell", choices=["bash"], help="the shell to complete in")
    return parser


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    """The flags of ``plmtransfer run`` (the rest go to Snakemake)."""
    run.add_argument("-d", "--directory", default=".",
                     help="working directory: data/, embeddings/, results/, figures/, logs/ live here")
    run.add_argument("--configfile", default=None, help="YAML file overriding config/study.yaml")
    run.add_argument("--cores", default="1", help="local CPU cores (Snakemake --cores)")
    run.add_argument("--profile", default="local",
                     help="Snakemake profile: local, slurm (the shipped ones) or a directory")


def long_flags(parser: argparse.ArgumentParser) -> list[str]:
    """Every ``--flag`` a parser accepts, and the names of its own subcommands (``stats report``)."""
    words = []
    for action in parser._actions:
        words += [option for option in action.option_strings if option.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            words += list(action.choices)
    return words


def script_flags(script: str) -> list[str]:
    """The long flags of a stage script, read from its ``create_parser()`` (scripts import nothing heavy)."""
    import importlib.util

    from plmtransfer.study import resource_dir

    spec = importlib.util.spec_from_file_location(f"plmtransfer_script_{script[:-3]}", resource_dir("scripts") / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return long_flags(module.create_parser())


def completion_script() -> str:
    """A bash completion function for ``plmtransfer``: subcommands first, then the chosen one's flags."""
    run = argparse.ArgumentParser(add_help=False)
    add_run_arguments(run)
    flags = {name: script_flags(script) for name, (script, _) in STAGE_SCRIPTS.items()}
    flags["run"] = ["--help", *long_flags(run)]
    cases = "\n".join(f'    {name}) words="{" ".join(words)}" ;;' for name, words in flags.items())
    commands = " ".join([*STAGE_SCRIPTS, "run", "completion", "--help", "--version"])
    return f"""# bash completion for plmtransfer: source <(plmtransfer completion bash)
# shellcheck shell=bash
_plmtransfer() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" words=""
  if ((COMP_CWORD == 1)); then
    words="{commands}"
  else
    case "${{COMP_WORDS[1]}}" in
{cases}
    completion) words="bash" ;;
    esac
  fi
  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")
  if [[ "$cur" != -* ]] && ((COMP_CWORD > 1)); then
    mapfile -t -O "${{#COMPREPLY[@]}}" COMPREPLY < <(compgen -f -- "$cur")
  fi
}}
complete -F _plmtransfer plmtransfer
"""


def run_stage(script: str, argv: list[str]) -> int:
    """Run a stage script as ``python scripts/<script> ARGV`` in this process; return its exit status."""
    import runpy

    from plmtransfer.study import resource_dir

    path = resource_dir("scripts") / script
    sys.argv = [str(path), *argv]
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    return 0


def timed_stage(script: str, argv: list[str]) -> tuple[int, float]:
    """:func:`run_stage` and its wall seconds (for callers that run stages in worker processes)."""
    import time

    start = time.perf_counter()
    code = run_stage(script, argv)
    return code, time.perf_counter() - start


def run_workflow(args: argparse.Namespace, extra: list[str]) -> int:
    """Run Snakemake on the shipped workflow in the working directory; return its exit status."""
    from plmtransfer.errors import UserError
    from plmtransfer.snakemake_main import COMMAND as SNAKEMAKE
    from plmtransfer.study import resource_dir
    from plmtransfer.sweep import profile_dir

    try:
        profile = profile_dir(args.profile)
    except UserError as error:
        print(f"plmtransfer run: error: {error}", file=sys.stderr)
        return 2
    command = [*SNAKEMAKE, "--snakefile", str(resource_dir("workflow") / "Snakefile"),
               "--directory", args.directory, "--profile", str(profile), "--cores", args.cores]
    if args.configfile:
        command += ["--configfile", args.configfile]
    return subprocess.call([*command, *extra])


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a stage script or to the workflow."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in STAGE_SCRIPTS:
        return run_stage(STAGE_SCRIPTS[argv[0]][0], argv[1:])
    args, extra = create_parser().parse_known_args(argv)
    if args.command == "completion":
        if extra:
            create_parser().error(f"unrecognized arguments: {' '.join(extra)}")
        print(completion_script(), end="")
        return 0
    return run_workflow(args, extra)


if __name__ == "__main__":
    sys.exit(main())
