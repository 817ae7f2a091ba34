#!/usr/bin/env bash
# run_all_DMS.sh — the whole DMS sweep: extraction -> compression -> lassoCV -> lassoCV_sampling -> stats.
# Every stage runs even if an earlier one had failed items (their dependants fail with a
# clear "missing input" line, the rest go on); the exit status is 1 if any stage failed.
# All options of the stage drivers are accepted (see ./run_extraction_DMS.sh --help);
# --mode pool|per_tok is passed to the extraction driver.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/scripts/run_all.sh" DMS "extraction compression lassoCV lassoCV_sampling stats" "$0" "$@"
