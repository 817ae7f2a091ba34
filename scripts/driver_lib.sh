# shellcheck shell=bash
# driver_lib.sh — the shared start of the run_*.sh drivers (sourced, never executed).
#
# A driver names its data-set family and stage and calls dl_run; the interpreter (--python,
# else $PYTHON, else the repository's .venv/bin/python that `make install` creates, else python)
# runs plmtransfer.workflow.sweep, which turns the flags into a Snakemake run
# of workflow/Snakefile over config/study.yaml and prints the summary. Nothing is scheduled here.

dl_run() {
  # dl_run SET STAGE DRIVER_PATH [driver options]: hand the options to plmtransfer.workflow.sweep.
  local set_name="$1" stage="$2" driver="$3" name
  name="$(basename "$driver")"
  shift 3
  local py="${PYTHON:-}" previous="" arg
  if [[ -z "$py" ]]; then
    py="$(dirname "$driver")/.venv/bin/python"
    [[ -x "$py" ]] || py=python
  fi
  for arg in "$@"; do
    [[ "$previous" == --python ]] && py="$arg"
    previous="$arg"
  done
  if ! "$py" -c "import plmtransfer.workflow.sweep, snakemake" 2> /dev/null; then
    echo "$name: error: '$py' cannot import plmtransfer and snakemake (run 'make install', or pass --python)" >&2
    exit 2
  fi
  exec "$py" -m plmtransfer.workflow.sweep "$set_name" "$stage" "$name" "$@"
}
