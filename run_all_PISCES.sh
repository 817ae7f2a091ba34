#!/usr/bin/env bash
# run_all_PISCES.sh — the whole PISCES sweep: extraction -> compression -> lassoCV -> stats.
# Every stage runs even if an earlier one had failed items (their dependants fail with a
# clear "missing input" line, the rest go on); the exit status is 1 if any stage failed.
# All options of the stage drivers are accepted (see ./run_extraction_PISCES.sh --help);
# --mode pool|per_tok is passed to the extraction driver.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
args=()
while (($#)); do
  case "$1" in
    --mode) export PLMTRANSFER_EXTRACT_MODE="${2:?--mode needs pool or per_tok}"; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
failed=()
for stage in extraction compression lassoCV stats; do
  echo "== run_${stage}_PISCES.sh"
  status=0
  bash "$here/run_${stage}_PISCES.sh" "${args[@]}" || status=$?
  if ((status == 2)); then exit 2; fi
  if ((status != 0)); then failed+=("$stage"); fi
done
if ((${#failed[@]})); then
  echo "run_all_PISCES.sh: stages with failed items: ${failed[*]} (see the summaries above and logs/)" >&2
  exit 1
fi
echo "run_all_PISCES.sh: all stages complete"
