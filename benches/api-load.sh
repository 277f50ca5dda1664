#!/usr/bin/env bash
# Load test of the API on loopback with wrk (apt-get install wrk), release build, offline
# engine, real index: /health, then POST /triage with repeated (alert storm) and distinct alerts,
# then a check that every triage is stored.
# Usage: benches/api-load.sh DATA_DIR_WITH_INDEX [SECONDS]
set -euo pipefail
src="${1:?pass a data dir holding an index (soc-copilot ingest)}"
secs="${2:-15}"
source "$(dirname "$0")/common.sh"
cp -r "$src/index" "$work/index"
port=18778
"$bin" --data-dir "$work" serve --engine offline --listen 127.0.0.1:$port 2>"$work/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:$port/health >/dev/null && break; sleep 0.2; done

echo "== GET /health, ${secs}s, 2 threads, 64 connections"
wrk -t2 -c64 -d"${secs}s" --latency http://127.0.0.1:$port/health | grep -E "Requests/sec|99%|Non-2xx|Socket errors|requests in"
sent=0
for kind in repeat distinct; do
  echo "== POST /triage (offline engine, $kind alerts), ${secs}s, 2 threads, 8 connections"
  wrk -t2 -c8 -d"${secs}s" --latency -s "benches/load/triage-$kind.lua" http://127.0.0.1:$port/triage \
    | tee "$work/triage-$kind.txt" | grep -E "Requests/sec|50%|99%|Non-2xx|Socket errors|requests in"
  sent=$((sent + $(awk '/requests in/ {print $1}' "$work/triage-$kind.txt")))
done
kill -TERM $pid; wait $pid || true
stored=$(python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute(\"select count(*) from triages where status='complete'\").fetchone()[0])" "$work/soc-copilot.db")
echo "== triages answered by wrk: $sent; complete triages in the store: $stored"
