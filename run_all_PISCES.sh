#!/usr/bin/env bash
# run_all_PISCES.sh — the whole PISCES sweep: extraction -> compression -> lassoCV -> stats.
# Every stage runs even if an earlier one had failed items (their dependants fail with a
# clear "missing input" line, the rest go on); the exit status is 1 if any stage failed.
# All options of the stage drivers are accepted (see ./run_extraction_PISCES.sh --help);
# --mode pool|per_tok is passed to the extraction driver.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/scripts/run_all.sh" PISCES "extraction compression lassoCV stats" "$0" "$@"
