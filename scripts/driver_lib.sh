# shellcheck shell=bash
# driver_lib.sh — the shared machinery of the run_*.sh drivers (sourced, never executed).
#
# A driver turns a list of work items (one stage command each) into a resumable sweep:
#   * options and environment variables (dl_parse_args): --root, --datasets, --models,
#     --methods, --jobs, --dry-run, --stage-args, --python; PLMTRANSFER_* equivalents;
#   * skip-if-done (dl_item): an item whose outputs all exist and are newer than its
#     inputs is skipped, so an interrupted sweep resumes where it stopped;
#   * one log per item under <root>/logs/<stage>/, a failing item never stops the sweep;
#   * --jobs N runs items as N background workers;
#   * dl_finish prints done / skipped / failed and returns non-zero if anything failed.

DL_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DL_SCRIPTS="$DL_LIB_DIR"

# The study's 40 DMS assays (../shared/data/README.md), in the study's order.
DL_STUDY_DMS=(
  YAP1_HUMAN_Fields2012_singles BRCA1_HUMAN_RING UBE4B_MOUSE_Klevit2013_singles
  BLAT_ECOLX_Tenaillon2013 PABP_YEAST_Fields2013_singles GAL4_YEAST_Shendure2015
  RL401_YEAST_Bolon2013 RL401_YEAST_Fraser2016 RL401_YEAST_Bolon2014 IF1_ECOLI
  BRCA1_HUMAN_BRCT TIM_SULSO TIM_THETH TIM_THEMA DLG4_RAT_Ranganathan2012
  POLG_HCVJF_Sun2014 MTH3_HAEAESTABILIZED_Tawfik2015 SUMO1_HUMAN_Roth2017
  CALM1_HUMAN_Roth2017 PA_FLU_Sun2015 UBC9_HUMAN_Roth2017 RASH_HUMAN_Kuriyan
  TPK1_HUMAN_Roth2017 BG_STRSQ_hmmerbit TPMT_HUMAN_Fowler2018
  PTEN_HUMAN_Fowler2018 HSP82_YEAST_Bolon2016 BLAT_ECOLX_Ranganathan2015
  KKA2_KLEPN_Mikkelsen2014 BLAT_ECOLX_Palzkill2012 BLAT_ECOLX_Ostermeier2014
  AMIE_PSEAE_Whitehead MK01_HUMAN_Johannessen B3VI55_LIPST_Whitehead2015
  B3VI55_LIPSTSTABLE parEparD_Laub2015_all HG_FLU_Bloom2016 BF520_env_Bloom2018
  BG505_env_Bloom2018 PABP_YEAST_Fields2013_doubles
)

# The study's PISCES targets (one data/PISCES_metadata/<target>.csv each).
DL_STUDY_PISCES=(
  PCP_length PCP_mW_kDa PCP_Isoelectric_point PCP_Charge PCP_Hydrophobicity
  PCP_Instability_index PCP_AAfreq_Ala PCP_AAfreq_Cys PCP_AAfreq_Leu SS_H SS_E SS_Coil
)

# The study's 14 compression methods (run for ESM-2 150M).
DL_STUDY_METHODS="mean,maxPool,bos,pca1,pca2,rbf1,rbf2,sigmoid1,sigmoid2,iDCT1,iDCT2,iDCT3,iDCT4,iDCT5"

# The study's models, each at its last layer: NAME[:LAYER[:METHOD,METHOD...]].
# Models without a method list get --methods (default mean). The one-hot baseline gets
# `flat` for DMS (the classic one-hot encoding: single-mutant sequences share one length)
# and `mean` (amino-acid composition) for PISCES, whose chains differ in length.
DL_ONEHOT_METHOD=flat
[[ "${DL_SET:-DMS}" == PISCES ]] && DL_ONEHOT_METHOD=mean
DL_STUDY_MODELS="esm1v_650M:33 esm2_8M:6 esm2_35M:12 esm2_150M:30:$DL_STUDY_METHODS \
esm2_650M:33 esm2_3B:36 esm2_15B:48 onehot:0:$DL_ONEHOT_METHOD"


dl_die() {
  # Print one error line naming the driver and exit 2 (a usage error, nothing was run).
  echo "$DL_NAME: error: $*" >&2
  exit 2
}

dl_note() {
  # Print an informational line unless --quiet.
  [[ "${DL_QUIET:-0}" == 1 ]] || echo "$DL_NAME: $*"
}

# shellcheck disable=SC2034  # dl_split_out is a nameref: assigning it fills the caller's array
dl_split() {
  # Split a comma- or space-separated list into the array named $1.
  local -n dl_split_out="$1"
  local text="${2//,/ }"
  read -r -a dl_split_out <<< "$text"
}

dl_common_help() {
  # The options every driver accepts, with defaults and environment variables.
  cat <<EOF
common options (each also set by the environment variable in brackets):
  --root DIR          where data/, embeddings/, results/, figures/, logs/ live
                      [PLMTRANSFER_ROOT] (default: the current directory)
  --datasets LIST     data sets (comma/space separated); 'all' = every one found under
                      the root's data/ [PLMTRANSFER_DATASETS] (default: the study's list;
                      those absent from data/ are listed once and not run)
  --models LIST       space-separated NAME[:LAYER[:METHOD,...]]: a fair-esm name, an alias
                      (esm2_150M), a .pt path or onehot; LAYER defaults to the last layer
                      [PLMTRANSFER_MODELS] (default: $DL_STUDY_MODELS)
  --methods LIST      compression methods for every model (onehot never gets bos: it has
                      no BOS token) [PLMTRANSFER_METHODS] (default: each model's own list;
                      mean where none is given)
  --jobs N            parallel workers for CPU stages [PLMTRANSFER_JOBS] (default: 1)
  --stage-args ARGS   extra arguments appended to every stage command, e.g. '--nogpu'
                      or '--cv contiguous' [PLMTRANSFER_STAGE_ARGS] (default: none)
  --python PY         Python interpreter [PYTHON] (default: python)
  --dry-run           print the commands that would run, run nothing
                      [PLMTRANSFER_DRY_RUN=1]
  --quiet             only the summary and errors [PLMTRANSFER_QUIET=1]
  -h, --help          show this help

Items whose outputs exist and are newer than their inputs are skipped; a failing item is
logged under <root>/logs/<stage>/ and the sweep goes on; the summary lists done / skipped /
failed and the exit status is 1 if any item failed (2 for a usage error).
EOF
}

dl_parse_args() {
  # Parse the common options, and the driver's own through dl_extra_option if the driver
  # defines it: it gets "$@", sets its variables and DL_USED (arguments consumed, 0 = unknown).
  DL_ROOT="${PLMTRANSFER_ROOT:-.}"
  DL_DATASETS_TEXT="${PLMTRANSFER_DATASETS:-}"
  DL_MODELS_TEXT="${PLMTRANSFER_MODELS:-$DL_STUDY_MODELS}"
  DL_METHODS_TEXT="${PLMTRANSFER_METHODS:-}"
  DL_JOBS="${PLMTRANSFER_JOBS:-1}"
  DL_STAGE_ARGS_TEXT="${PLMTRANSFER_STAGE_ARGS:-}"
  DL_PY="${PYTHON:-python}"
  DL_DRY_RUN="${PLMTRANSFER_DRY_RUN:-0}"
  DL_QUIET="${PLMTRANSFER_QUIET:-0}"
  while (($#)); do
    case "$1" in
      --root) DL_ROOT="${2:?--root needs a directory}"; shift 2 ;;
      --datasets) DL_DATASETS_TEXT="${2:?--datasets needs a list}"; shift 2 ;;
      --models) DL_MODELS_TEXT="${2:?--models needs a list}"; shift 2 ;;
      --methods) DL_METHODS_TEXT="${2?--methods needs a list}"; shift 2 ;;
      --jobs) DL_JOBS="${2:?--jobs needs a number}"; shift 2 ;;
      --stage-args) DL_STAGE_ARGS_TEXT="${2?--stage-args needs a value}"; shift 2 ;;
      --python) DL_PY="${2:?--python needs an interpreter}"; shift 2 ;;
      --dry-run) DL_DRY_RUN=1; shift ;;
      --quiet) DL_QUIET=1; shift ;;
      -h|--help) dl_usage; exit 0 ;;
      *)
        DL_USED=0
        if declare -F dl_extra_option > /dev/null; then dl_extra_option "$@"; fi
        ((DL_USED)) || dl_die "unknown option '$1' (see --help)"
        shift "$DL_USED" ;;
    esac
  done
  [[ "$DL_JOBS" =~ ^[1-9][0-9]*$ ]] || dl_die "--jobs must be a positive integer, got '$DL_JOBS'"
  [[ -d "$DL_ROOT" ]] || mkdir -p "$DL_ROOT"
  DL_ROOT="$(cd "$DL_ROOT" && pwd)"
  read -r -a DL_MODELS <<< "$DL_MODELS_TEXT"  # whitespace only: commas separate a model's methods
  dl_split DL_METHODS "$DL_METHODS_TEXT"
  dl_split DL_STAGE_ARGS "$DL_STAGE_ARGS_TEXT"
  ((${#DL_MODELS[@]})) || dl_die "--models is empty"
  DL_STATUS_DIR="$(mktemp -d "${TMPDIR:-/tmp}/plmtransfer-driver.XXXXXX")"
  trap 'rm -rf "$DL_STATUS_DIR"' EXIT
  DL_ITEM_COUNT=0
  DL_LOG_DIR="$DL_ROOT/logs/$DL_STAGE"
  # name<TAB>alias<TAB>last layer<TAB>family per model, read from the model registry
  DL_MODEL_TABLE="$("$DL_PY" -m plmtransfer.registry)" || dl_die "'$DL_PY' cannot import plmtransfer (activate .venv or pass --python)"
}

dl_usage() {
  # Print the driver's own description (DL_DESCRIPTION) and the common options.
  printf '%s\n\n' "$DL_DESCRIPTION"
  if declare -F dl_extra_help > /dev/null; then dl_extra_help; echo; fi
  dl_common_help
}

dl_resolve_datasets() {
  # Fill DL_RUN_DATASETS with the requested data sets present under the root's data/.
  # Absent defaults are listed once and not run; absent explicit ones are failed items.
  local -a requested=()
  local explicit=1
  if [[ -z "$DL_DATASETS_TEXT" ]]; then
    if [[ "$DL_SET" == DMS ]]; then requested=("${DL_STUDY_DMS[@]}"); else requested=("${DL_STUDY_PISCES[@]}"); fi
    explicit=0
  elif [[ "$DL_DATASETS_TEXT" == all ]]; then
    mapfile -t requested < <(dl_all_datasets)
    ((${#requested[@]})) || dl_note "no data sets found under $DL_ROOT/data"
  else
    dl_split requested "$DL_DATASETS_TEXT"
  fi
  DL_RUN_DATASETS=()
  local -a absent=()
  local dataset
  for dataset in "${requested[@]}"; do
    if [[ -f "$(dl_metadata "$dataset")" && -f "$(dl_fasta "$(dl_unit "$dataset")")" ]]; then
      DL_RUN_DATASETS+=("$dataset")
    else
      absent+=("$dataset")
    fi
  done
  ((${#absent[@]})) || return 0
  if ((explicit)); then
    for dataset in "${absent[@]}"; do
      dl_record failed "$dataset" "input missing: $(dl_metadata "$dataset") or" \
        "$(dl_fasta "$(dl_unit "$dataset")") (prepare the data first)"
    done
  else
    dl_note "${#absent[@]} of ${#requested[@]} default data sets are not in $DL_ROOT/data" \
      "and are not run: ${absent[*]}"
  fi
}

# ---- paths of the file contracts (docs/contracts.md), for DL_SET = DMS or PISCES --------------

DL_PISCES_UNIT="pisces_len64-1022"

dl_all_datasets() {
  # Print every data set found under the root's data/ (DMS assays or PISCES targets).
  local file
  if [[ "$DL_SET" == DMS ]]; then
    for file in "$DL_ROOT"/data/DMS_metadata/*_metadata.csv; do
      [[ -e "$file" ]] && basename "$file" _metadata.csv
    done
  else
    for file in "$DL_ROOT"/data/PISCES_metadata/*.csv; do
      [[ -e "$file" ]] && basename "$file" .csv
    done
  fi
  return 0
}

dl_unit() {
  # The embedding unit of a data set: the DMS assay itself; for PISCES the one chain set
  # that every target shares (one extraction per model, every target against it).
  if [[ "$DL_SET" == DMS ]]; then echo "$1"; else echo "$DL_PISCES_UNIT"; fi
}

dl_units() {
  # Print the distinct embedding units of DL_RUN_DATASETS.
  local dataset
  for dataset in "${DL_RUN_DATASETS[@]}"; do dl_unit "$dataset"; done | awk '!seen[$0]++'
}

dl_fasta() {
  # The FASTA file of an embedding unit.
  if [[ "$DL_SET" == DMS ]]; then
    echo "$DL_ROOT/data/DMS_mut_sequences/${1}_muts.fasta"
  else
    echo "$DL_ROOT/data/PISCES/$1.fasta"
  fi
}

dl_metadata() {
  # The ID,target CSV of a data set.
  if [[ "$DL_SET" == DMS ]]; then
    echo "$DL_ROOT/data/DMS_metadata/${1}_metadata.csv"
  else
    echo "$DL_ROOT/data/PISCES_metadata/$1.csv"
  fi
}

dl_pertok_dir() { echo "$DL_ROOT/embeddings/$DL_SET/$DL_MODEL_DIR/$1"; }
dl_compressed_dir() { echo "$DL_ROOT/embeddings/${DL_SET}_compressed/$DL_MODEL_DIR/$1"; }
dl_compressed() { echo "$(dl_compressed_dir "$1")/embed_layer_${DL_LAYER}_$2.pkl"; }
dl_result() { echo "$DL_ROOT/results/$1/$DL_SET/$DL_MODEL_DIR/${2}_$3.csv"; }

dl_model_info() {
  # Set DL_MODEL_ARG (what the stage scripts get), DL_MODEL_DIR (the directory name in
  # embeddings/ and results/), DL_LAYER and DL_MODEL_METHODS for one NAME[:LAYER[:METHODS]].
  local spec="$1"
  local name="${spec%%:*}" rest="" layer="" methods=""
  [[ "$spec" == *:* ]] && rest="${spec#*:}"
  layer="${rest%%:*}"
  [[ "$rest" == *:* ]] && methods="${rest#*:}"
  DL_MODEL_ARG="$name"
  local full alias last="" found=0
  while IFS=$'\t' read -r full alias last _; do
    if [[ -n "$full" && ( "$name" == "$full" || "$name" == "$alias" ) ]]; then found=1; break; fi
  done <<< "$DL_MODEL_TABLE"
  if ((found)); then
    DL_MODEL_DIR="$alias"
  elif [[ "$name" == *.pt ]]; then
    DL_MODEL_DIR="$(basename "$name" .pt)"
    last=""
    [[ "$DL_MODEL_DIR" =~ _t([0-9]+)_ ]] && last="${BASH_REMATCH[1]}"
  else
    return 1
  fi
  DL_LAYER="${layer:-$last}"
  [[ "$DL_LAYER" =~ ^[0-9]+$ ]] || return 1
  DL_MODEL_METHODS=()
  if ((${#DL_METHODS[@]})); then
    DL_MODEL_METHODS=("${DL_METHODS[@]}")
  elif [[ -n "$methods" ]]; then
    dl_split DL_MODEL_METHODS "$methods"
  else
    DL_MODEL_METHODS=(mean)
  fi
  if [[ "$DL_MODEL_DIR" == onehot ]]; then
    local -a kept=()
    local method
    for method in "${DL_MODEL_METHODS[@]}"; do [[ "$method" == bos ]] || kept+=("$method"); done
    DL_MODEL_METHODS=("${kept[@]}")
  fi
}

dl_each_model() {
  # Call "$1 MODEL_SPEC" for each model; an unresolvable spec is recorded as failed.
  local callback="$1" spec
  for spec in "${DL_MODELS[@]}"; do
    if dl_model_info "$spec"; then
      "$callback" "$spec"
    else
      dl_record failed "$spec" "unknown model or layer '$spec' (use an alias such as esm2_150M, a" \
        "fair-esm name, a .pt path, or onehot; give :LAYER for a .pt whose name has no _t<N>_)"
    fi
  done
}

dl_record() {
  # Record an item's outcome (done, skipped, failed) with a label and a detail line.
  local outcome="$1" label="$2"
  shift 2
  DL_ITEM_COUNT=$((DL_ITEM_COUNT + 1))
  printf '%s\t%s\t%s\n' "$outcome" "$label" "$*" > "$DL_STATUS_DIR/$DL_ITEM_COUNT.$BASHPID.status"
  if [[ "$outcome" == failed ]]; then echo "$DL_NAME: FAILED $label: $*" >&2; fi
}

dl_is_fresh() {
  # True if every output exists and none of the inputs (files or directories searched
  # recursively) is newer than the oldest output.
  local -a outputs=() inputs=()
  local arg side=out
  for arg in "$@"; do
    if [[ "$arg" == --inputs ]]; then side=in; continue; fi
    if [[ "$side" == out ]]; then outputs+=("$arg"); else inputs+=("$arg"); fi
  done
  local output oldest=""
  for output in "${outputs[@]}"; do
    [[ -e "$output" ]] || return 1
    if [[ -z "$oldest" || "$output" -ot "$oldest" ]]; then oldest="$output"; fi
  done
  local input
  for input in "${inputs[@]}"; do
    [[ -e "$input" ]] || continue
    if [[ -n "$(find "$input" -newer "$oldest" -type f -print -quit)" ]]; then return 1; fi
  done
  return 0
}

dl_run_command() {
  # Run one item's command with its output in LOG; on success touch MARKER (if given).
  local label="$1" log="$2" marker="$3"
  shift 3
  mkdir -p "$(dirname "$log")"
  {
    echo "# $(date '+%Y-%m-%d %H:%M:%S') $DL_NAME: $label"
    printf '# command:'; printf ' %q' "$@"; echo
  } > "$log"
  if "$@" >> "$log" 2>&1; then
    [[ -z "$marker" ]] || { mkdir -p "$(dirname "$marker")"; touch "$marker"; }
    dl_record "done" "$label" "log: $log"
  else
    local status=$?
    dl_record failed "$label" "exit $status, last line: $(tail -n 1 "$log"); log: $log"
  fi
}

dl_item() {
  # Run (or skip, or print) one work item:
  #   dl_item LABEL [--marker] OUTPUT... [--inputs INPUT...] -- COMMAND...
  # With --marker the (single) output is a marker file touched after the command succeeds.
  local label="$1"
  shift
  local marker_mode=0
  if [[ "$1" == --marker ]]; then marker_mode=1; shift; fi
  local -a freshness=()
  while [[ "$1" != -- ]]; do freshness+=("$1"); shift; done
  shift
  if dl_is_fresh "${freshness[@]}"; then
    dl_record skipped "$label" "output exists: ${freshness[0]}"
    return 0
  fi
  if [[ "$DL_DRY_RUN" == 1 ]]; then
    printf '%q ' "$@" | sed 's/ $//'
    echo
    dl_record planned "$label" "dry run"
    return 0
  fi
  local marker=""
  ((marker_mode)) && marker="${freshness[0]}"
  local log="$DL_LOG_DIR/$label.log"
  dl_note "running $label (log: $log)"
  if ((DL_JOBS > 1)); then
    while (($(jobs -rp | wc -l) >= DL_JOBS)); do wait -n || true; done
    dl_run_command "$label" "$log" "$marker" "$@" &
  else
    dl_run_command "$label" "$log" "$marker" "$@"
  fi
}

dl_finish() {
  # Wait for the workers, print the summary and return 1 if any item failed.
  wait || true
  local -a lines=()
  if compgen -G "$DL_STATUS_DIR/*.status" > /dev/null; then
    mapfile -t lines < <(cat "$DL_STATUS_DIR"/*.status)
  fi
  local done_n=0 skipped_n=0 failed_n=0 planned_n=0 line
  for line in "${lines[@]}"; do
    case "${line%%$'\t'*}" in
      done) done_n=$((done_n + 1)) ;;
      skipped) skipped_n=$((skipped_n + 1)) ;;
      failed) failed_n=$((failed_n + 1)) ;;
      planned) planned_n=$((planned_n + 1)) ;;
    esac
  done
  local summary="$done_n done, $skipped_n skipped (up to date), $failed_n failed"
  ((planned_n == 0)) || summary="$summary, $planned_n to run (dry run)"
  echo "$DL_NAME: summary: $summary"
  if ((failed_n)); then
    echo "$DL_NAME: failed items:" >&2
    for line in "${lines[@]}"; do
      [[ "${line%%$'\t'*}" == failed ]] || continue
      IFS=$'\t' read -r _ label detail <<< "$line"
      echo "  $label: $detail" >&2
    done
    return 1
  fi
  return 0
}

# ---- the stages ------------------------------------------------------------------------

dl_start() {
  # Common start of a driver: DL_SET, DL_STAGE, DL_NAME and DL_DESCRIPTION are set by it.
  dl_parse_args "$@"
  dl_resolve_datasets
  if ((${#DL_RUN_DATASETS[@]} == 0)); then dl_note "nothing to run: no data set present"; fi
  if [[ "$DL_DRY_RUN" == 1 ]]; then dl_note "dry run: printing the commands, running nothing"; fi
}

dl_extraction_model() {
  # Extraction items of one model: per unit, one extract.py call for the missing outputs.
  local unit fasta
  local -a include
  while read -r unit; do
    fasta="$(dl_fasta "$unit")"
    if [[ "$DL_EXTRACT_MODE" == per_tok ]]; then
      include=(bos per_tok)
      [[ "$DL_MODEL_DIR" == onehot ]] && include=(per_tok)  # one-hot has no BOS token
      # a stale marker means the FASTA changed: recompute; no marker means resume
      [[ -e "$(dl_pertok_dir "$unit")/.complete" ]] && include+=(--overwrite)
      dl_item "$DL_MODEL_DIR/$unit" --marker "$(dl_pertok_dir "$unit")/.complete" --inputs "$fasta" -- \
        "$DL_PY" "$DL_SCRIPTS/extract.py" "$DL_MODEL_ARG" "$fasta" "$(dl_pertok_dir "$unit")" \
        --repr_layers "$DL_LAYER" --include "${include[@]}" "${DL_STAGE_ARGS[@]}"
      continue
    fi
    dl_stale_methods "$unit" "$fasta"
    if ((${#DL_TODO[@]} == 0)); then
      dl_record skipped "$DL_MODEL_DIR/$unit" "outputs exist: $(dl_compressed "$unit" "${DL_MODEL_METHODS[0]}") ..."
      continue
    fi
    dl_item "$DL_MODEL_DIR/$unit" "${DL_TODO_OUTPUTS[@]}" --inputs "$fasta" -- \
      "$DL_PY" "$DL_SCRIPTS/extract.py" "$DL_MODEL_ARG" "$fasta" "$(dl_compressed_dir "$unit")" \
      --repr_layers "$DL_LAYER" --pool "${DL_TODO[@]}" "${DL_OVERWRITE[@]}" "${DL_STAGE_ARGS[@]}"
  done < <(dl_units)
}

dl_stale_methods() {
  # Set DL_TODO (methods of the current model whose compressed file of unit $1 is missing
  # or older than $2), DL_TODO_OUTPUTS (their files) and DL_OVERWRITE (--overwrite when one
  # of them exists but is stale: the stage scripts keep existing files unless told so).
  local unit="$1" input="$2" method output
  DL_TODO=()
  DL_TODO_OUTPUTS=()
  DL_OVERWRITE=()
  for method in "${DL_MODEL_METHODS[@]}"; do
    output="$(dl_compressed "$unit" "$method")"
    dl_is_fresh "$output" --inputs "$input" && continue
    DL_TODO+=("$method")
    DL_TODO_OUTPUTS+=("$output")
    [[ -e "$output" ]] && DL_OVERWRITE=(--overwrite)
  done
  return 0
}

dl_compression_model() {
  # Compression items of one model: per unit, one compress.py call for the methods whose
  # output is missing or older than the per-token embeddings (their completion marker).
  local unit pertok
  while read -r unit; do
    pertok="$(dl_pertok_dir "$unit")"
    dl_stale_methods "$unit" "$pertok/.complete"
    if ((${#DL_TODO[@]} == 0)); then
      dl_record skipped "$DL_MODEL_DIR/$unit" "outputs exist: $(dl_compressed "$unit" "${DL_MODEL_METHODS[0]}") ..."
    elif [[ ! -e "$pertok/.complete" && "$DL_DRY_RUN" != 1 ]]; then
      dl_record failed "$DL_MODEL_DIR/$unit" "no per-token embeddings in $pertok for ${DL_TODO[*]}:" \
        "run the extraction driver (it pools these directly) or with --mode per_tok first"
    else
      dl_item "$DL_MODEL_DIR/$unit" "${DL_TODO_OUTPUTS[@]}" --inputs "$pertok/.complete" -- \
        "$DL_PY" "$DL_SCRIPTS/compress.py" -e "$pertok" -o "$(dl_compressed_dir "$unit")" \
        -c "${DL_TODO[@]}" -l "$DL_LAYER" "${DL_OVERWRITE[@]}" "${DL_STAGE_ARGS[@]}"
    fi
  done < <(dl_units)
}

dl_regression_model() {
  # Regression items of one model: one call per (data set, method) with DL_REG_SCRIPT.
  local dataset method embedding result
  for dataset in "${DL_RUN_DATASETS[@]}"; do
    for method in "${DL_MODEL_METHODS[@]}"; do
      embedding="$(dl_compressed "$(dl_unit "$dataset")" "$method")"
      result="$(dl_result "$DL_REG_RESULTS" "$dataset" "$method")"
      if [[ ! -e "$embedding" && "$DL_DRY_RUN" != 1 && ! -e "$result" ]]; then
        dl_record failed "$DL_MODEL_DIR/${dataset}_$method" "missing input $embedding (run the" \
          "extraction/compression drivers first)"
        continue
      fi
      dl_item "$DL_MODEL_DIR/${dataset}_$method" "$result" --inputs "$embedding" "$(dl_metadata "$dataset")" -- \
        "$DL_PY" "$DL_SCRIPTS/$DL_REG_SCRIPT" -i "$embedding" -m "$(dl_metadata "$dataset")" \
        -o "$result" --dataset "$dataset" --embedding-model "$DL_MODEL_DIR" "${DL_STAGE_ARGS[@]}"
    done
  done
}

dl_run_stats() {
  # One stats.py report over the whole results tree; re-run when any result is newer.
  local results="$DL_ROOT/results/lassoCV/$DL_SET" sampling="$DL_ROOT/results/lassoCV_sampling/$DL_SET"
  local out="$DL_ROOT/results/stats/$DL_SET" figures="$DL_ROOT/figures/$DL_SET"
  local metadata_dir="$DL_ROOT/data/DMS_metadata"
  [[ "$DL_SET" == DMS ]] || metadata_dir="$DL_ROOT/data/PISCES_metadata"
  local -a sampling_args=()
  [[ -d "$sampling" ]] && sampling_args=(--sampling-dir "$sampling")
  if [[ ! -d "$results" && "$DL_DRY_RUN" != 1 ]]; then
    dl_record failed "stats" "no results in $results (run the regression driver first)"
    return 0
  fi
  dl_item "report" --marker "$out/.complete" --inputs "$results" "${sampling_args[@]:1}" -- \
    "$DL_PY" "$DL_SCRIPTS/stats.py" report --results-dir "$results" "${sampling_args[@]}" \
    --metadata-dir "$metadata_dir" --out-dir "$out" --figures-dir "$figures" "${DL_STAGE_ARGS[@]}"
}
