#!/usr/bin/env bash
# run_stats_FLIP.sh — FLIP: mixed-effects statistics and figures (scripts/stats.py report).
# A face over the Snakemake workflow (workflow/Snakefile, config/study.yaml); see --help and docs/drivers.md.
set -euo pipefail
# shellcheck source=scripts/driver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/driver_lib.sh"
dl_run FLIP stats "$0" "$@"
