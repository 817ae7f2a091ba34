#!/usr/bin/env bash
# run_compression_DMS.sh — compress per-token embeddings of each DMS assay into one vector per protein (scripts/compress.py).
set -euo pipefail
DL_SET=DMS
DL_STAGE=compression
DL_NAME="$(basename "$0")"
DL_DESCRIPTION="run_compression_DMS.sh: compress per-token embeddings of each DMS assay into one vector per protein (scripts/compress.py)."
# shellcheck source=scripts/driver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/driver_lib.sh"

dl_start "$@"
dl_each_model dl_compression_model
dl_finish
