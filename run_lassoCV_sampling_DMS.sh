#!/usr/bin/env bash
# run_lassoCV_sampling_DMS.sh — learning curves: LassoCV on subsamples (scripts/reg_lassoCV_sampling.py) per assay, model and method.
set -euo pipefail
DL_SET=DMS
DL_STAGE=lassoCV_sampling
DL_NAME="$(basename "$0")"
DL_DESCRIPTION="run_lassoCV_sampling_DMS.sh: learning curves: LassoCV on subsamples (scripts/reg_lassoCV_sampling.py) per assay, model and method."
# shellcheck source=scripts/driver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/driver_lib.sh"

DL_REG_SCRIPT=reg_lassoCV_sampling.py
DL_REG_RESULTS=lassoCV_sampling
dl_start "$@"
dl_each_model dl_regression_model
dl_finish
