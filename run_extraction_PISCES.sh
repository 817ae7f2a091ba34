#!/usr/bin/env bash
# run_extraction_PISCES.sh — extract embeddings of the PISCES chain set (one extraction per model) for each model (scripts/extract.py).
set -euo pipefail
DL_SET=PISCES
DL_STAGE=extraction
DL_NAME="$(basename "$0")"
DL_DESCRIPTION="run_extraction_PISCES.sh: extract embeddings of the PISCES chain set (one extraction per model) for each model (scripts/extract.py)."
# shellcheck source=scripts/driver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/driver_lib.sh"
# shellcheck source=scripts/extraction_driver.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/extraction_driver.sh"
