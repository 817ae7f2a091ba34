# Shared body of run_extraction_DMS.sh and run_extraction_PISCES.sh: the --mode option and the
# loop over models. Sourced after scripts/driver_lib.sh with DL_SET and friends set.
# shellcheck shell=bash
DL_EXTRACT_MODE="${PLMTRANSFER_EXTRACT_MODE:-pool}"

dl_extra_help() {
  # The extraction-only option.
  cat <<HELP
extraction option:
  --mode pool|per_tok  pool: extract.py --pool writes the compressed files
                      (embed_layer_<L>_<method>.pkl) directly, no per-token dump (the
                      compression driver then has nothing left to do); per_tok: write
                      fair-esm per-sequence .pt files (--include bos per_tok) for
                      run_compression_*.sh, as the study did [PLMTRANSFER_EXTRACT_MODE]
                      (default: pool)
HELP
}

dl_extra_option() {
  # Parse --mode.
  if [[ "$1" == --mode ]]; then
    DL_EXTRACT_MODE="${2:?--mode needs pool or per_tok}"
    # shellcheck disable=SC2034  # read by dl_start in driver_lib.sh
    DL_USED=2
  fi
}

dl_start "$@"
[[ "$DL_EXTRACT_MODE" == pool || "$DL_EXTRACT_MODE" == per_tok ]] ||
  dl_die "--mode must be pool or per_tok, got '$DL_EXTRACT_MODE'"
dl_each_model dl_extraction_model
dl_finish
