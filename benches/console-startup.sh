#!/usr/bin/env bash
# Console start-up and memory, measured on the real binary in a real terminal (tmux):
#   - first frame after process start, with an existing index (the embedding model and the
#     queue load in the background);
#   - peak RSS with 10,000 alerts loaded and drawn.
# Usage: benches/console-startup.sh [DATA_DIR]   (DATA_DIR must hold an index: `soc-copilot ingest`)
set -euo pipefail
data="${1:-${SOC_COPILOT_DATA_DIR:?pass a data dir with an index}}"
source "$(dirname "$0")/common.sh"
trap 'tmux -L socbench kill-server 2>/dev/null || true; rm -rf "$work"' EXIT

python3 benches/make-alerts.py 10000 "$work/10k.ndjson" bench

run() { # $1 = label, rest = args
  local label=$1; shift
  tmux -L socbench kill-server 2>/dev/null || true
  tmux -L socbench new-session -d -s b -x 160 -y 45 \
    "env ${BENCH_ENV:-} /usr/bin/time -v $bin --data-dir '$data' tui --engine offline $* 2> '$work/err'; echo DONE > '$work/done'"
  for _ in $(seq 1 600); do [ -f "$work/done" ] && break; sleep 0.1; done
  rm -f "$work/done"
  echo "$label: $(grep -E 'first frame' "$work/err")  process peak RSS (time -v) $(awk '/Maximum resident/ {printf "%.0f MB", $6/1024}' "$work/err")"
}
for i in 1 2 3 4 5; do run "first frame (sample queue) #$i" --exit-after first-frame; done
run "10,000 alerts" --exit-after loaded "$work/10k.ndjson"
