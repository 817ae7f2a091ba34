#!/usr/bin/env bash
# run_extraction_FLIP.sh — FLIP: extract embeddings for each model (scripts/extract.py).
# A face over the Snakemake workflow (workflow/Snakefile, config/study.yaml); see --help and docs/drivers.md.
set -euo pipefail
# shellcheck source=scripts/driver_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/scripts/driver_lib.sh"
dl_run FLIP extraction "$0" "$@"
