#!/usr/bin/env bash
# run_lassoCV_FLIP.sh — FLIP: LassoCV regression (scripts/reg_lassoCV.py) per data set, model and method.
# A face over the Snakemake workflow (workflow/Snakefile, config/study.yaml); see --help and docs/drivers.md.
set -euo pipefail
# shellcheck source=scripts/driver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/driver_lib.sh"
dl_run FLIP lassoCV "$0" "$@"
