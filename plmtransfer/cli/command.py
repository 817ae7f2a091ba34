"""The ``plmtransfer`` command: the study's stage commands and the whole workflow under one name.

``plmtransfer <stage> ARGS`` runs a stage's ``main()`` (:mod:`plmtransfer.cli`) with ARGS: the same
flags and help as the study's ``scripts/<module>.py`` (the stage table, :mod:`plmtransfer.stages`,
names them). ``plmtransfer run`` runs Snakemake on the shipped workflow (``workflow/Snakefile``
over ``config/study.yaml``) in a working directory, with a user config file, Snakemake options
and targets; ``plmtransfer completion bash`` prints a bash completion script (subcommands and
each one's flags): ``source <(plmtransfer completion bash)``. Nothing heavy is imported before a
subcommand is chosen, so ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from importlib import metadata

from plmtransfer.stages import BY_COMMAND, STAGES

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
    for stage in STAGES:
        commands.add_parser(stage.command, help=stage.summary, add_help=False)
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
                     help="Snakemake profile: local, cpu (no GPU: extractions side by side), slurm (the shipped "
                     "ones) or a directory")


def long_flags(parser: argparse.ArgumentParser) -> list[str]:
    """Every ``--flag`` a parser accepts, and the names of its own subcommands (``stats report``)."""
    words = []
    for action in parser._actions:
        words += [option for option in action.option_strings if option.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            words += list(action.choices)
    return words


def stage_parser(command: str) -> argparse.ArgumentParser:
    """The parser of a stage's command (``create_parser()`` of its module, which imports nothing heavy)."""
    return importlib.import_module(BY_COMMAND[command].python_module).create_parser()


def completion_script() -> str:
    """A bash completion function for ``plmtransfer``: subcommands first, then the chosen one's flags."""
    run = argparse.ArgumentParser(add_help=False)
    add_run_arguments(run)
    flags = {stage.command: long_flags(stage_parser(stage.command)) for stage in STAGES}
    flags["run"] = ["--help", *long_flags(run)]
    cases = "\n".join(f'    {name}) words="{" ".join(words)}" ;;' for name, words in flags.items())
    commands = " ".join([*BY_COMMAND, "run", "completion", "--help", "--version"])
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


def run_stage(command: str, argv: list[str]) -> int:
    """Run a stage's ``main(argv)`` in this process, as its script would; return its exit status."""
    from plmtransfer.cli.common import run_cli

    stage = BY_COMMAND[command]
    sys.argv = [f"plmtransfer {command}", *argv]  # the usage and error lines name the subcommand
    try:
        return run_cli(importlib.import_module(stage.python_module).main, argv)
    except SystemExit as done:  # argparse: --help, --version, usage errors
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)


def timed_stage(command: str, argv: list[str]) -> tuple[int, float]:
    """:func:`run_stage` and its wall seconds (for callers that run stages in worker processes)."""
    import time

    start = time.perf_counter()
    code = run_stage(command, argv)
    return code, time.perf_counter() - start


def run_workflow(args: argparse.Namespace, extra: list[str]) -> int:
    """Run Snakemake on the shipped workflow in the working directory; return its exit status."""
    from plmtransfer.config import resource_dir
    from plmtransfer.errors import UserError
    from plmtransfer.workflow.snakemake_main import COMMAND as SNAKEMAKE
    from plmtransfer.workflow.sweep import profile_dir

    try:
        profile = profile_dir(args.profile)
    except UserError as error:
        print(f"plmtransfer run: error: {error}", file=sys.stderr)
        return 2
    # Snakemake's --configfile takes several files: it goes first, so that targets after it stay targets
    command = [*SNAKEMAKE, *(["--configfile", args.configfile] if args.configfile else []),
               "--snakefile", str(resource_dir("workflow") / "Snakefile"),
               "--directory", args.directory, "--profile", str(profile), "--cores", args.cores]
    return subprocess.call([*command, *extra])


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a stage script or to the workflow."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in BY_COMMAND:
        return run_stage(argv[0], argv[1:])
    args, extra = create_parser().parse_known_args(argv)
    if args.command == "completion":
        if extra:
            create_parser().error(f"unrecognized arguments: {' '.join(extra)}")
        print(completion_script(), end="")
        return 0
    return run_workflow(args, extra)


if __name__ == "__main__":
    sys.exit(main())
