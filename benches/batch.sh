#!/usr/bin/env bash
# Batch triage wall time: 1,000 alerts through `soc-copilot triage --batch` with the offline
# engine, on a copy of an existing index with an empty store (so nothing is skipped).
# Usage: benches/batch.sh [DATA_DIR] [CONCURRENCY]   (DATA_DIR must hold an index)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-${SOC_COPILOT_DATA_DIR:?pass a data dir with an index}}"
conc="${2:-2}"
bin=target/release/soc-copilot
[ -x "$bin" ] || cargo build --release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/data"
cp -r "$data/index" "$work/data/"
[ -f "$data/config.toml" ] && cp "$data/config.toml" "$work/data/"

# 1,000 alerts: the sample queue's generic-shape alerts with fresh ids. With REPEAT=1 they
# keep their text (the query-vector cache answers repeats); by default a few words are
# added to every title so no two alerts read alike and every query is embedded.
python3 - "$work/1000.jsonl" "${REPEAT:-0}" <<'PY'
import json, random, sys
random.seed(7)
words = "invoice payroll budget contract shipping quarterly review audit merger vendor claims \
policy benefits travel expense pricing forecast order delivery customs tender salary pension \
refund statement receipt summary proposal agenda minutes schedule roster inventory".split()
src = [json.loads(l) for l in open("data/queue/sample-queue.ndjson") if '"alert_id"' in l]
with open(sys.argv[1], "w") as out:
    for i in range(1000):
        a = dict(src[i % len(src)]); a["alert_id"] = f"batch-{i:04d}"
        if sys.argv[2] != "1":
            key = "title" if "title" in a else "alert_text"
            a[key] = f"{a[key]} ({' '.join(random.sample(words, 3))})"
        out.write(json.dumps(a) + "\n")
PY

start=$(date +%s.%N)
/usr/bin/time -v "$bin" --data-dir "$work/data" triage --engine offline \
  --batch "$work/1000.jsonl" --concurrency "$conc" --out "$work/out.jsonl" 2> "$work/err" || true
end=$(date +%s.%N)
grep -v -E "^\s+(Page|Voluntary|Involuntary|Swaps|File|Socket|Signals|Average|Exit|Minor|Major|Percent|System|User|Elapsed|Command|Maximum)" "$work/err" || true
echo "lines out: $(wc -l < "$work/out.jsonl")  verdicts: $(grep -c '"verdict"' "$work/out.jsonl")"
echo "wall: $(echo "$end - $start" | bc) s  peak RSS: $(awk '/Maximum resident/ {printf "%.0f MB", $6/1024}' "$work/err")"
