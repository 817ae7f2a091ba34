#!/usr/bin/env bash
# run_lassoCV_sampling_DMS.sh — DMS: learning curves (scripts/reg_lassoCV_sampling.py) per data set, model and method.
# A face over the Snakemake workflow (workflow/Snakefile, config/study.yaml); see --help and docs/drivers.md.
set -euo pipefail
# shellcheck source=scripts/driver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/driver_lib.sh"
dl_run DMS lassoCV_sampling "$0" "$@"
