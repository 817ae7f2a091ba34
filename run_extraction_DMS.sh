#!/usr/bin/env bash
# run_extraction_DMS.sh — extract embeddings of each DMS assay for each model (scripts/extract.py).
set -euo pipefail
DL_SET=DMS
DL_STAGE=extraction
DL_NAME="$(basename "$0")"
DL_DESCRIPTION="run_extraction_DMS.sh: extract embeddings of each DMS assay for each model (scripts/extract.py)."
# shellcheck source=scripts/driver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/driver_lib.sh"
# shellcheck source=scripts/extraction_driver.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/extraction_driver.sh"
