#!/usr/bin/env bash
# A storm of webhook alerts through `serve` (release build, offline engine, real index):
# N distinct alerts POSTed one per request, 16 at a time, to /alerts; a 429 is retried after
# its Retry-After. Then waits until GET /alerts shows none queued or triaging, and checks in
# the store that every alert was triaged exactly once. Prints wall time and peak RSS.
# Usage: benches/webhook-storm.sh DATA_DIR_WITH_INDEX [N]
set -euo pipefail
src="${1:?pass a data dir holding an index (soc-copilot ingest)}"
n="${2:-1000}"
source "$(dirname "$0")/common.sh"
cp -r "$src/index" "$work/index"
port=18779
python3 benches/make-alerts.py "$n" "$work/alerts.jsonl" storm --reword
"$bin" --data-dir "$work" serve --engine offline --listen 127.0.0.1:$port 2>"$work/serve.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fs http://127.0.0.1:$port/health >/dev/null && break; sleep 0.2; done
python3 - "$work/alerts.jsonl" "$port" "$work/soc-copilot.db" "$pid" <<'PY'
import concurrent.futures, json, sqlite3, sys, time, urllib.request, urllib.error
path, port, db, pid = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
lines = open(path).read().splitlines()
base = f"http://127.0.0.1:{port}"
refused = 0
def post(line):
    global refused
    while True:
        req = urllib.request.Request(base + "/alerts", data=line.encode(), headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.load(r)["queued"]
        except urllib.error.HTTPError as e:
            if e.code != 429:
                raise
            refused += 1
            time.sleep(float(e.headers.get("retry-after", "1")))
t0 = time.time()
with concurrent.futures.ThreadPoolExecutor(16) as ex:
    queued = sum(ex.map(post, lines))
posted = time.time() - t0
while True:
    with urllib.request.urlopen(base + f"/alerts?limit=1000", timeout=30) as r:
        pending = [a for a in json.load(r) if a["status"] in ("queued", "triaging")]
    if not pending:
        break
    time.sleep(0.2)
wall = time.time() - t0
rss = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM")][0].split()[1]
c = sqlite3.connect(db)
per_alert = dict(c.execute("select a.alert_key, count(t.id) from alerts a left join triages t on t.alert_id = a.id "
                           "where a.alert_key like 'storm-%' group by a.alert_key").fetchall())
once = sum(1 for v in per_alert.values() if v == 1)
print(f"{len(lines)} alerts posted in {posted:.1f} s ({refused} answered 429 and retried), {queued} queued; "
      f"all triaged after {wall:.1f} s ({len(lines) / wall:.0f} alerts/s); triaged exactly once: {once}/{len(lines)}; "
      f"peak RSS {int(rss) // 1024} MB")
sys.exit(0 if once == len(lines) else 1)
PY
