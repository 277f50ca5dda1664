#!/usr/bin/env bash
# Batch triage wall time: 1,000 alerts through `soc-copilot triage --batch` with the offline
# engine, on a copy of an existing index with an empty store (so nothing is skipped).
# Usage: benches/batch.sh [DATA_DIR] [CONCURRENCY]   (DATA_DIR must hold an index)
set -euo pipefail
data="${1:-${SOC_COPILOT_DATA_DIR:?pass a data dir with an index}}"
conc="${2:-2}"
source "$(dirname "$0")/common.sh"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/data"
cp -r "$data/index" "$work/data/"
[ -f "$data/config.toml" ] && cp "$data/config.toml" "$work/data/"

# 1,000 alerts, every title reworded so each query is embedded; REPEAT=1 keeps the texts
# as they are (the query-vector cache then answers the repeats).
if [ "${REPEAT:-0}" = 1 ]; then reword=""; else reword="--reword"; fi
python3 benches/make-alerts.py 1000 "$work/1000.jsonl" batch $reword

start=$(date +%s.%N)
/usr/bin/time -v "$bin" --data-dir "$work/data" triage --engine offline \
  --batch "$work/1000.jsonl" --concurrency "$conc" --out "$work/out.jsonl" 2> "$work/err" || true
end=$(date +%s.%N)
grep -v -E "^\s+(Page|Voluntary|Involuntary|Swaps|File|Socket|Signals|Average|Exit|Minor|Major|Percent|System|User|Elapsed|Command|Maximum)" "$work/err" || true
echo "lines out: $(wc -l < "$work/out.jsonl")  verdicts: $(grep -c '"verdict"' "$work/out.jsonl")"
echo "wall: $(echo "$end - $start" | bc) s  peak RSS: $(awk '/Maximum resident/ {printf "%.0f MB", $6/1024}' "$work/err")"
