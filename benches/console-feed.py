#!/usr/bin/env python3
"""How long a colleague's work takes to reach a running console (team mode).

Run consoles on a team store (`soc-copilot --database postgres://… --data-dir D tui`), one
`serve` replica on the same store, then:

  python3 benches/console-feed.py --api 127.0.0.1:8080 --alerts 100 --logs D1/logs/soc-copilot.log D2/logs/soc-copilot.log

It pushes `--alerts` webhook alerts to the replica at a gentle pace (the replica triages
them), judges each verdict through `POST /feedback` as analyst `carol`, and then reads the
consoles' logs: every change a console's feed thread hands to its screen is logged with its
age (`team change shown … latency_ms=N`, from the moment the writer recorded it). Prints
p50/p99 per kind of change (alert, triage, feedback) and per console, as JSON.
"""

import argparse
import json
import re
import time
import urllib.request


def call(api, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{api}{path}", data=data, method="POST" if body is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round((len(xs) - 1) * p)))]


LINE = re.compile(r'^(\S+).*team change shown.*kind="?(\w+)"?.*latency_ms=(-?\d+)')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True, help="host:port of a serve replica on the team store")
    ap.add_argument("--alerts", type=int, default=100)
    ap.add_argument("--rate", type=float, default=5.0, help="alerts per second")
    ap.add_argument("--logs", nargs="+", required=True, help="the consoles' log files")
    a = ap.parse_args()
    started = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    tag = int(time.time())
    keys = set()
    for i in range(a.alerts):
        key = f"feed-{tag}-{i}"
        keys.add(key)
        call(a.api, "/alerts", {"alert_id": key, "title": f"Encoded PowerShell launched by Office on FIN-WS-{i:04d}",
                                "severity": "high", "source": "edr", "host": f"FIN-WS-{i:04d}",
                                "description": "powershell -enc from winword"})
        time.sleep(1 / a.rate)
    # Judge each verdict once it is there.
    judged, deadline = set(), time.time() + 300
    while len(judged) < len(keys) and time.time() < deadline:
        for row in call(a.api, "/alerts?limit=500"):
            if row.get("alert_id") in keys and row.get("triage_id") and row["triage_id"] not in judged \
                    and row.get("status") == "triaged":
                call(a.api, "/feedback", {"triage_id": row["triage_id"], "analyst_verdict": row.get("verdict") or "LOW",
                                          "analyst_correct": True, "analyst": "carol"})
                judged.add(row["triage_id"])
                time.sleep(1 / a.rate)
        time.sleep(0.5)
    time.sleep(3)  # the last changes reach the consoles
    report = {"alerts": a.alerts, "judged": len(judged), "consoles": {}}
    for path in a.logs:
        by_kind = {}
        with open(path, errors="replace") as f:
            for line in f:
                m = LINE.search(line)
                if m and m.group(1)[:19] >= started:
                    by_kind.setdefault(m.group(2), []).append(int(m.group(3)))
        report["consoles"][path] = {k: {"n": len(v), "p50_ms": pct(v, 0.5), "p99_ms": pct(v, 0.99)}
                                    for k, v in sorted(by_kind.items())}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
