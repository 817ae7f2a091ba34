#!/usr/bin/env bash
# run_stats_DMS.sh — mixed-effects statistics and figures over the DMS results (scripts/stats.py report).
set -euo pipefail
DL_SET=DMS
DL_STAGE=stats
DL_NAME="$(basename "$0")"
DL_DESCRIPTION="run_stats_DMS.sh: mixed-effects statistics and figures over the DMS results (scripts/stats.py report)."
# shellcheck source=scripts/driver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/driver_lib.sh"

dl_start "$@"
dl_run_stats
dl_finish
