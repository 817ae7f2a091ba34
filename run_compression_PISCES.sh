#!/usr/bin/env bash
# run_compression_PISCES.sh — compress per-token embeddings of the PISCES chain set (one extraction per model) into one vector per protein (scripts/compress.py).
set -euo pipefail
DL_SET=PISCES
DL_STAGE=compression
DL_NAME="$(basename "$0")"
DL_DESCRIPTION="run_compression_PISCES.sh: compress per-token embeddings of the PISCES chain set (one extraction per model) into one vector per protein (scripts/compress.py)."
# shellcheck source=scripts/driver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/driver_lib.sh"

dl_start "$@"
dl_each_model dl_compression_model
dl_finish
