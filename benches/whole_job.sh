#!/usr/bin/env bash
# Times idgraph's whole job (ingest, train, score, resolve) on each public dataset, then
# scores the entities. Usage: benches/whole_job.sh [DATA_DIR], default ../shared/data.
# Needs a release build: cargo build --release.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-../shared/data}"
bin=target/release/idgraph
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {
  local name=$1 truth=$2 pattern=$3 config=$4
  shift 4
  local store="$work/$name"
  local started ended
  started=$(date +%s.%N)
  "$@" --no-progress >/dev/null
  if [[ -n "$config" ]]; then
    "$bin" match "$store" --config "$config" >/dev/null
  else
    "$bin" match "$store" >/dev/null
  fi
  ended=$(date +%s.%N)
  local metrics
  if [[ -n "$pattern" ]]; then
    metrics=$("$bin" eval "$store" --truth-column "$truth" --truth-pattern "$pattern" --format json)
  else
    metrics=$("$bin" eval "$store" --truth-column "$truth" --format json)
  fi
  python3 - "$name" "$started" "$ended" "$metrics" <<'PY'
import json, sys
name, start, end, metrics = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), json.loads(sys.argv[4])
print(f"{name:<16} {end - start:6.2f} s  P {metrics['precision']:.4f}  R {metrics['recall']:.4f}  "
      f"F1 {metrics['f1']:.4f}  (TP {metrics['true_positives']}, FP {metrics['false_positives']}, "
      f"FN {metrics['false_negatives']})")
PY
}

febrl="$data/febrl"
run febrl3 rec_id 'rec-(\d+)-' "" \
  "$bin" ingest "$work/febrl3" "$febrl/dataset3.csv" --key rec_id
run febrl4 rec_id 'rec-(\d+)-' "" \
  "$bin" ingest "$work/febrl4" "$febrl/dataset4a.csv" "$febrl/dataset4b.csv" --key rec_id
run febrl2 rec_id 'rec-(\d+)-' "" \
  "$bin" ingest "$work/febrl2" "$febrl/dataset2.csv" --key rec_id
run fake_1000 cluster "" docs/matching/fake_1000.toml \
  "$bin" ingest "$work/fake_1000" "$data/splink_datasets/fake_1000.csv" --key unique_id \
  --id email=email --attr first_name --attr surname --attr dob --attr city --attr email \
  --attr cluster
run rldata10000 label_true "" docs/matching/rldata.toml \
  "$bin" ingest "$work/rldata10000" "$data/rldata/RLdata10000.csv" --key record_id
run historical_50k cluster "" docs/matching/historical_50k.toml \
  "$bin" ingest "$work/historical_50k" \
  "$data/splink_datasets/historical_figures_with_errors_50k.csv" --key unique_id \
  --ignore full_name --ignore first_and_surname
