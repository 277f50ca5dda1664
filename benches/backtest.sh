#!/usr/bin/env bash
# Backtest wall time: `soc-copilot backtest --engine offline` over N reviewed alerts (default
# 10,000). Builds the history first on a copy of an existing index: N alerts triaged with
# `triage --batch` (offline engine), then an analyst judgement recorded for each triage
# straight in SQLite (three in four thumbs up, the rest a different verdict) — only the
# backtest itself is timed.
# Usage: benches/backtest.sh [DATA_DIR] [N]   (DATA_DIR must hold an index)
set -euo pipefail
data="${1:-${SOC_COPILOT_DATA_DIR:?pass a data dir with an index}}"
n="${2:-10000}"
source "$(dirname "$0")/common.sh"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/data"
cp -r "$data/index" "$work/data/"
[ -f "$data/config.toml" ] && cp "$data/config.toml" "$work/data/"

python3 benches/make-alerts.py "$n" "$work/alerts.jsonl" hist --reword
echo "building the history: $n alerts triaged offline…"
"$bin" --data-dir "$work/data" triage --engine offline --batch "$work/alerts.jsonl" \
  --concurrency 2 --out "$work/out.jsonl" 2>/dev/null
python3 - "$work/data/soc-copilot.db" <<'PY'
import random, sqlite3, sys
random.seed(11)
levels = ["BENIGN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT id, verdict, confidence, engine FROM triages WHERE status = 'complete'").fetchall()
for tid, verdict, conf, engine in rows:
    if random.random() < 0.75:
        thumbs, analyst = "up", None
    else:
        thumbs, analyst = "down", random.choice([l for l in levels if l != verdict])
    db.execute(
        "INSERT INTO feedback (triage_id, thumbs, analyst_verdict, analyst, created_at, verdict, confidence, engine)"
        " VALUES (?, ?, ?, 'bench', strftime('%Y-%m-%dT%H:%M:%fZ','now'), ?, ?, ?)",
        (tid, thumbs, analyst, verdict, conf, engine))
db.commit()
print(f"{len(rows)} triages judged")
PY
sum_before=$(sqlite3 "$work/data/soc-copilot.db" "SELECT count(*) || '/' || (SELECT count(*) FROM feedback) || '/' || (SELECT count(*) FROM alerts) FROM triages" 2>/dev/null || echo "-")
start=$(date +%s.%N)
/usr/bin/time -v "$bin" --data-dir "$work/data" backtest --engine offline 2> "$work/err" | tee "$work/report.txt" | head -30
end=$(date +%s.%N)
sum_after=$(sqlite3 "$work/data/soc-copilot.db" "SELECT count(*) || '/' || (SELECT count(*) FROM feedback) || '/' || (SELECT count(*) FROM alerts) FROM triages" 2>/dev/null || echo "-")
echo "history (triages/feedback/alerts) before: $sum_before  after: $sum_after"
echo "wall: $(echo "$end - $start" | bc) s  peak RSS: $(awk '/Maximum resident/ {printf "%.0f MB", $6/1024}' "$work/err")"
