#!/usr/bin/env bash
# run_all_FLIP.sh — FLIP: the whole sweep: every stage in one Snakemake run.
# A face over the Snakemake workflow (workflow/Snakefile, config/study.yaml); see --help and docs/drivers.md.
set -euo pipefail
# shellcheck source=scripts/driver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/driver_lib.sh"
dl_run FLIP all "$0" "$@"
