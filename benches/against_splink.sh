#!/usr/bin/env bash
# Runs Splink's whole job (benches/splink/whole_job.py) and idgraph's (benches/whole_job.sh)
# in turn, ROUNDS times, so that both see the same machine, then prints each tool's times per
# dataset and the ratio of the medians.
# Usage: benches/against_splink.sh [ROUNDS] [DATA_DIR]; default 5 and ../shared/data.
# SPLINK_PYTHON names the Python that has Splink installed (see benches/splink/README.md).
# Needs a release build: cargo build --release.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-5}"
data="${2:-../shared/data}"
python="${SPLINK_PYTHON:-python3}"
times=$(mktemp)
trap 'rm -f "$times"' EXIT

for ((round = 1; round <= rounds; round++)); do
  "$python" benches/splink/whole_job.py --data "$data" 2>/dev/null |
    awk '/^(febrl3|febrl4|fake_1000|historical_50k) / {print "splink", $1, $2}' >>"$times"
  bash benches/whole_job.sh "$data" 2>/dev/null |
    awk '/^(febrl3|febrl4|fake_1000|historical_50k) / {print "idgraph", $1, $2}' >>"$times"
done

python3 - "$times" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    tool, name, seconds = line.split()
    runs.setdefault(name, {}).setdefault(tool, []).append(float(seconds))
print(f"{'dataset':<16} {'Splink s (min/median/max)':<27} {'idgraph s (min/median/max)':<27} ratio")
for name in ["febrl3", "febrl4", "fake_1000", "historical_50k"]:
    if name not in runs or len(runs[name]) < 2:
        continue
    cells = []
    for tool in ["splink", "idgraph"]:
        values = runs[name][tool]
        cells.append(f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}")
    ratio = statistics.median(runs[name]["idgraph"]) / statistics.median(runs[name]["splink"])
    print(f"{name:<16} {cells[0]:<27} {cells[1]:<27} {ratio:.3f}")
PY
