#!/usr/bin/env bash
# run_lassoCV_PISCES.sh — LassoCV regression (scripts/reg_lassoCV.py) per target, model and compression method.
set -euo pipefail
DL_SET=PISCES
DL_STAGE=lassoCV
DL_NAME="$(basename "$0")"
DL_DESCRIPTION="run_lassoCV_PISCES.sh: LassoCV regression (scripts/reg_lassoCV.py) per target, model and compression method."
# shellcheck source=scripts/driver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/driver_lib.sh"

DL_REG_SCRIPT=reg_lassoCV.py
DL_REG_RESULTS=lassoCV
dl_start "$@"
dl_each_model dl_regression_model
dl_finish
