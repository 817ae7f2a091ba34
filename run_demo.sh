#!/usr/bin/env bash
# run_demo.sh — the DMS pipeline end-to-end on a small embedded default (`make demo`).
#
# Offline, a few minutes on 2 CPU cores: three small real assays (from the offline mirror,
# else the canonical source, else a generated example data set, said loudly), the one-hot
# baseline (flat, mean, maxPool) and UniRep 64 and 256 with their real pretrained weights
# (mean; UniRep 256 also bos, maxPool and UniRep's own h_avg and fusion), through extraction,
# compression, regression, statistics and figures. --random-esm adds ESM-2 8M (real weights
# when cached, else the untrained 8M-shape test model, labelled as such everywhere).
# Everything is written under demo_output/ (or $PLMTRANSFER_DEMO_ROOT); a second run reuses
# what exists. Ends with a table of test R² per assay and model with a one-line reading, the
# paths of the figures, and last the report to open (report.html).
set -euo pipefail
with_esm=0
case "${1:-}" in
  -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  --random-esm) with_esm=1 ;;
  "") ;;
  *) echo "run_demo.sh: error: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${PLMTRANSFER_DEMO_ROOT:-$here/demo_output}"
py="${PYTHON:-python}"
mirror="${PLMTRANSFER_MIRROR:-$here/../shared/data}/dms"
default_datasets="${PLMTRANSFER_DEMO_DATASETS:-IF1_ECOLI SUMO1_HUMAN_Roth2017 RL401_YEAST_Bolon2014}"
datasets="$default_datasets"
jobs="${PLMTRANSFER_JOBS:-2}"
mkdir -p "$root"
root="$(cd "$root" && pwd)"
export PYTHON="$py"
if ! "$py" -c "import plmtransfer.data.datasets, plmtransfer.backends.esm.featuriser" 2> /dev/null; then
  echo "run_demo.sh: '$py' cannot import plmtransfer and its requirements: run 'make demo', or activate .venv first" >&2
  exit 2
fi

say() { printf '\n== %s\n' "$*"; }

data_ready() {
  # True when every demo assay already has its metadata CSV and FASTA (a re-run keeps them).
  local dataset
  for dataset in $datasets; do
    [[ -f "$root/data/DMS_metadata/${dataset}_metadata.csv" &&
       -f "$root/data/DMS_mut_sequences/${dataset}_muts.fasta" ]] || return 1
  done
}

prepare_data() {
  # Real assays from the mirror or the canonical source; a generated example set otherwise.
  data_ready && return 0
  local -a source_args=()
  [[ -d "$mirror" ]] && source_args=(--mirror "$mirror")
  # shellcheck disable=SC2086  # $datasets is a space-separated list on purpose
  if "$py" "$here/scripts/prepare_dms.py" --datasets $datasets "${source_args[@]}" \
      --out-dir "$root/data" --quiet; then
    return 0
  fi
  echo "run_demo.sh: the real assays ($datasets) are neither in the mirror ($mirror) nor" \
    "reachable at the canonical source; using a GENERATED example data set instead" \
    "(synthetic targets: the scores below say nothing about real proteins)." >&2
  datasets="$("$py" -c 'import sys; from plmtransfer.data.generated import write_example_assays
print(" ".join(write_example_assays(sys.argv[1])))' "$root/data")"
}

clear_other_runs() {
  # The report reads every result under results/: a previous demo run on the other assays (real or
  # generated) would mix into this run's table and report, so its outputs are removed (and said so).
  local name
  local -a removed=()
  for name in $default_datasets $("$py" -c 'from plmtransfer.data.generated import EXAMPLE_ASSAYS; print(*EXAMPLE_ASSAYS)'); do
    [[ " $datasets " == *" $name "* ]] && continue
    [[ -f "$root/data/DMS_metadata/${name}_metadata.csv" ]] || continue
    rm -rf "$root"/results/*/DMS/*/"${name}"_*.csv "$root"/embeddings/DMS*/*/"$name" \
      "$root/data/DMS_metadata/${name}_metadata.csv" "$root/data/DMS_mut_sequences/${name}_muts.fasta"
    removed+=("$name")
  done
  if ((${#removed[@]})); then
    rm -rf "$root/results/stats/DMS" "$root/figures/DMS"
    echo "run_demo.sh: removed the outputs of an earlier demo run on other assays (${removed[*]}) so that" \
      "this run's table and report cover only $datasets" >&2
  fi
}

choose_esm_model() {
  # ESM-2 8M with real weights if cached or downloadable; else the untrained test model.
  if "$py" -c "from plmtransfer.backends.esm.featuriser import resolve_checkpoint; resolve_checkpoint('esm2_8M')" \
      2> /dev/null; then
    model=esm2_8M
    untrained=""
    return 0
  fi
  echo "run_demo.sh: ESM-2 8M weights are not in the torch hub cache and cannot be downloaded;" \
    "using the 8M-shape TEST MODEL with RANDOM weights instead: its scores are NOT results." >&2
  model="$root/models/esm2_t6_8M_random.pt"
  [[ -f "$model" ]] || model="$("$py" "$here/scripts/make_test_model.py" --arch 8M -o "$root/models" | tail -n 1)"
  untrained="$(basename "$model" .pt)"
}

say "1/6 data: $datasets"
prepare_data
clear_other_runs
pooled="unirep_64:4:mean unirep_256:4:mean,bos,maxPool,h_avg,fusion"
untrained=""
if ((with_esm)); then
  choose_esm_model
  pooled="$pooled $model:6:mean,bos,maxPool"
fi
models="$pooled onehot:0:mean,maxPool,flat"
common=(--root "$root" --datasets "$datasets" --jobs "$jobs")
status=0

say "2/6 extraction: UniRep (real weights) pooled on the fly (--pool, no per-token dump); one-hot per token"
bash "$here/run_extraction_DMS.sh" "${common[@]}" --jobs 1 --models "$pooled" || status=1
bash "$here/run_extraction_DMS.sh" "${common[@]}" --mode per_tok --models "onehot:0" || status=1

say "3/6 compression: one-hot per-token files -> mean, maxPool, flat (the pLMs were pooled above)"
bash "$here/run_compression_DMS.sh" "${common[@]}" --models "onehot:0:mean,maxPool,flat" || status=1

say "4/6 regression: LassoCV, 5 outer folds, per assay x model x method"
bash "$here/run_lassoCV_DMS.sh" "${common[@]}" --models "$models" || status=1

say "5/6 statistics and figures"
bash "$here/run_stats_DMS.sh" "${common[@]}" --models "$models" || status=1

say "6/6 test R² (mean over the 5 outer folds) per assay and model"
"$py" -m plmtransfer.analysis.demo_summary "$root" "$datasets" "$untrained"
if ((status)); then
  echo "run_demo.sh: some items failed; see the summaries above and the logs in $root/logs" >&2
fi
exit "$status"
