#!/usr/bin/env bash
# run_compression_FLIP.sh — FLIP: compress per-token embeddings into one vector per protein (scripts/compress.py).
# A face over the Snakemake workflow (workflow/Snakefile, config/study.yaml); see --help and docs/drivers.md.
set -euo pipefail
# shellcheck source=scripts/driver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/driver_lib.sh"
dl_run FLIP compression "$0" "$@"
