#!/usr/bin/env bash
# Shared body of run_all_DMS.sh and run_all_PISCES.sh: run one data set's stage drivers in order.
# Usage: scripts/run_all.sh SET "STAGE ..." CALLER [driver options]
# CALLER is the wrapper's path; its comment lines 2-6 are the --help text.
set -euo pipefail
set_name="$1"
read -ra stages <<< "$2"
caller="$3"
shift 3
name="$(basename "$caller")"
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
args=()
while (($#)); do
  case "$1" in
    --mode) export PLMTRANSFER_EXTRACT_MODE="${2:?--mode needs pool or per_tok}"; shift 2 ;;
    -h|--help) sed -n '2,6p' "$caller" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
failed=()
for stage in "${stages[@]}"; do
  echo "== run_${stage}_${set_name}.sh"
  status=0
  bash "$top/run_${stage}_${set_name}.sh" "${args[@]}" || status=$?
  if ((status == 2)); then exit 2; fi
  if ((status != 0)); then failed+=("$stage"); fi
done
if ((${#failed[@]})); then
  echo "$name: stages with failed items: ${failed[*]} (see the summaries above and logs/)" >&2
  exit 1
fi
echo "$name: all stages complete"
