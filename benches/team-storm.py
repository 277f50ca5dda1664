#!/usr/bin/env python3
"""A SOC shift on one database: a webhook storm over several `serve` replicas, scripted
analysts judging verdicts, one replica killed midway.

  python3 benches/team-storm.py --backend postgres --replicas 3 --analysts 5 --alerts 10000
  python3 benches/team-storm.py --backend sqlite --replicas 1 --analysts 5 --alerts 10000

PostgreSQL runs as a throwaway cluster from the distribution's packages (initdb as the
`postgres` user when run as root, a loopback port). Each replica is the release binary
(`cargo build --release` first) with the offline engine, `SOC_COPILOT_REPLICA` naming it like
a container, so a killed replica's alerts come back only when its leases run out. The
storm is spread round-robin like a load balancer; a request that cannot reach its replica
(the killed one) is retried on the next, as a balancer's health check would; 429 is
retried after Retry-After. 5% of alerts are sent twice, to different replicas.

Each analyst follows the change feed with `soc-copilot store events --follow --json` (the
same feed the consoles read) and, every second, judges a triaged alert through the API;
the time from a judgement's POST to its arrival in every other analyst's feed is the
"verdict appears in the other consoles" latency.

Prints a JSON report: alerts stored once, triaged once (complete runs per alert), lost,
intake latency p50/p99, triage throughput, feed latency p50/p99, runs abandoned by the kill.
"""

import argparse
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "target", "release", "soc-copilot")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pg_cluster(root):
    bins = sorted(
        (d for d in os.listdir("/usr/lib/postgresql") if os.path.exists(f"/usr/lib/postgresql/{d}/bin/initdb")),
        key=lambda v: int(v.split(".")[0]),
    )
    if not bins:
        sys.exit("no PostgreSQL server package (apt-get install postgresql)")
    pgbin = f"/usr/lib/postgresql/{bins[-1]}/bin"
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    d = os.path.join(root, "pg")
    os.makedirs(d)
    if as_pg:
        shutil.chown(d, "postgres", "postgres")
    subprocess.run(as_pg + [f"{pgbin}/initdb", "-D", f"{d}/data", "-A", "trust", "-U", "soc", "--no-sync", "-E", "UTF8", "--locale=C"],
                   check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    # Durability settings are PostgreSQL's defaults: the storm measures a real commit path.
    opts = f"-k {d} -p {port} -c listen_addresses=127.0.0.1 -c max_connections=300"
    subprocess.run(as_pg + [f"{pgbin}/pg_ctl", "-D", f"{d}/data", "-l", f"{d}/log", "-w", "-o", opts, "start"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([f"{pgbin}/psql", f"postgres://soc@127.0.0.1:{port}/postgres", "-qc", "CREATE DATABASE storm"], check=True)
    stop = lambda: subprocess.run(as_pg + [f"{pgbin}/pg_ctl", "-D", f"{d}/data", "-m", "fast", "stop"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return f"postgres://soc@127.0.0.1:{port}/storm", f"{pgbin}/psql", stop


def sql(psql, url, query):
    out = subprocess.run([psql, url, "-Atc", query], check=True, capture_output=True, text=True).stdout
    return [line.split("|") for line in out.strip().splitlines() if line]


def alert(i):
    # A large estate: 2,000 hosts, 3,000 users (alerts on one host or user within the hour
    # still correlate, as they would).
    host = f"{['FIN', 'HR', 'ENG', 'WEB'][i % 4]}-WS-{(i * 7) % 2000:04d}"
    rules = [
        ("Encoded PowerShell launched by Office", "high"),
        ("LSASS memory read by unsigned process", "critical"),
        ("New service installed", "medium"),
        ("Outbound connection to rare domain", "low"),
        ("Multiple failed logons", "medium"),
        ("Scheduled task created from temp folder", "high"),
    ]
    title, sev = rules[i % len(rules)]
    return {
        "alert_id": f"storm-{i}",
        "title": f"{title} on {host}",
        "severity": sev,
        "source": "edr",
        "host": host,
        "user": f"user{(i * 13) % 3000:04d}",
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "description": f"{title}; process tree and command line attached (event {i}).",
        "process": {"name": "powershell.exe", "command_line": f"powershell -enc SQBFAFgA{i}"},
    }


def post(port, path, body, timeout=30):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read() or b"{}")


def get(port, path, timeout=10):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return json.loads(r.read())


def pct(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(round((len(xs) - 1) * p)))] * 1000, 1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--replicas", type=int, default=3)
    ap.add_argument("--analysts", type=int, default=5)
    ap.add_argument("--alerts", type=int, default=10000)
    ap.add_argument("--senders", type=int, default=16, help="concurrent webhook senders")
    ap.add_argument("--kill", type=int, default=None, help="replica to SIGKILL halfway (default: the second when there are several)")
    ap.add_argument("--data", help="a data directory whose index/ is used (default: ingest the ATT&CK bundle from ../shared)")
    ap.add_argument("--out", help="write the JSON report here too")
    a = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit("build the release binary first: cargo build --release")
    root = tempfile.mkdtemp(prefix="storm-")
    os.chmod(root, 0o755)  # the server user must reach its directory inside
    env = dict(os.environ)
    shared = os.path.join(os.path.dirname(REPO), "shared")
    env.setdefault("ORT_DYLIB_PATH", f"{shared}/runtime/libonnxruntime.so.1.31.1")
    env.setdefault("SOC_COPILOT_MODEL_DIR", f"{shared}/models/all-MiniLM-L6-v2-int8")
    env.setdefault("SOC_COPILOT_ATTACK_BUNDLE", f"{shared}/attack/enterprise-attack.json")
    env.setdefault("SOC_COPILOT_ATTACK_VERSION", "18.1")
    base = os.path.join(root, "base")
    if a.data:
        os.makedirs(base)
        os.symlink(os.path.abspath(os.path.join(a.data, "index")), os.path.join(base, "index"))
    else:
        subprocess.run([BIN, "--data-dir", base, "ingest"], env=env, check=True, stdout=subprocess.DEVNULL)
    config = os.path.join(root, "config.toml")
    with open(config, "w") as f:
        f.write("[server]\nconcurrency = 4\nqueue_depth = 2000\nauto_triage = \"all\"\n")
    env["SOC_COPILOT_CONFIG"] = config
    stop_pg = None
    if a.backend == "postgres":
        url, psql, stop_pg = pg_cluster(root)
        env["SOC_COPILOT_DATABASE_URL"] = url
        query = lambda q: sql(psql, url, q)
    else:
        import sqlite3
        url = os.path.join(base, "soc-copilot.db")
        def query(q):
            c = sqlite3.connect(url, timeout=30)
            try:
                return [[str(x) for x in row] for row in c.execute(q).fetchall()]
            finally:
                c.close()
    kill = a.kill if a.kill is not None else (1 if a.replicas > 1 else -1)

    replicas = []
    for i in range(a.replicas):
        d = os.path.join(root, f"r{i}") if a.backend == "postgres" else base
        if a.backend == "postgres":
            os.makedirs(d)
            os.symlink(os.path.join(base, "index"), os.path.join(d, "index"))
        port = free_port()
        renv = dict(env, SOC_COPILOT_REPLICA=f"r{i}")
        p = subprocess.Popen([BIN, "--data-dir", d, "serve", "--engine", "offline", "--listen", f"127.0.0.1:{port}"],
                             env=renv, stdout=subprocess.DEVNULL, stderr=open(os.path.join(root, f"r{i}.log"), "w"))
        replicas.append({"port": port, "proc": p, "alive": True})
    for r in replicas:
        for _ in range(600):
            try:
                get(r["port"], "/health")
                break
            except Exception:
                time.sleep(0.2)
        else:
            sys.exit(f"a replica did not start; see {root}/r*.log")

    # Analysts: each follows the feed and judges a triaged alert every second.
    stop = threading.Event()
    posted = {}  # triage id -> (analyst, time posted)
    received = []  # (analyst, triage id, time received)
    lock = threading.Lock()
    feeds = []
    for n in range(a.analysts):
        name = f"analyst{n}"
        fp = subprocess.Popen([BIN, "--data-dir", base, "store", "events", "--follow", "--json"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
        feeds.append(fp)

        def read(fp=fp, name=name):
            for line in fp.stdout:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                if e.get("kind") == "feedback" and e.get("triage_id"):
                    with lock:
                        received.append((name, e["triage_id"], time.time()))

        threading.Thread(target=read, daemon=True).start()
    time.sleep(1.5)  # the feeds are listening

    def judge(n):
        name = f"analyst{n}"
        rng = random.Random(n)
        while not stop.is_set():
            live = [r for r in replicas if r["alive"]]
            r = rng.choice(live)
            try:
                rows = get(r["port"], "/alerts?limit=50")
                done = [x for x in rows if x.get("status") == "triaged" and x.get("triage_id")]
                with lock:
                    done = [x for x in done if x["triage_id"] not in posted]
                if done:
                    x = rng.choice(done)
                    with lock:
                        posted[x["triage_id"]] = (name, time.time())
                    post(r["port"], "/feedback", {"triage_id": x["triage_id"], "analyst_verdict": x.get("verdict") or "LOW",
                                                  "analyst_correct": True, "analyst": name})
            except Exception:
                pass
            stop.wait(1.0)

    judges = [threading.Thread(target=judge, args=(n,), daemon=True) for n in range(a.analysts)]
    for t in judges:
        t.start()

    # The storm.
    work = queue.Queue()
    order = list(range(a.alerts))
    dup = set(random.Random(1).sample(order, a.alerts // 20))
    for i in order:
        work.put((i, i % len(replicas)))
    for i in sorted(dup):
        work.put((i, (i + 1) % len(replicas)))
    latencies, acked, failovers, retries_429 = [], set(), [0], [0]
    sent = [0]
    total = work.qsize()
    started = time.time()

    def sender():
        while True:
            try:
                i, target = work.get_nowait()
            except queue.Empty:
                return
            body = alert(i)
            attempt = 0
            while True:
                r = replicas[(target + attempt) % len(replicas)]
                t0 = time.time()
                try:
                    status, resp = post(r["port"], "/alerts", body)
                    with lock:
                        latencies.append(time.time() - t0)
                        acked.add(i)
                        sent[0] += 1
                    break
                except urllib.error.HTTPError as e:
                    if e.code == 429:
                        with lock:
                            retries_429[0] += 1
                        time.sleep(float(e.headers.get("Retry-After", "1")))
                        continue
                    attempt += 1
                except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                    with lock:
                        failovers[0] += 1
                    attempt += 1
                if attempt > 3 * len(replicas):
                    break

    threads = [threading.Thread(target=sender) for _ in range(a.senders)]
    for t in threads:
        t.start()
    killed_at = None
    if kill >= 0:
        while sent[0] < total // 2:
            time.sleep(0.05)
        replicas[kill]["proc"].send_signal(signal.SIGKILL)
        replicas[kill]["alive"] = False
        killed_at = time.time() - started
    for t in threads:
        t.join()
    storm_secs = time.time() - started

    # Wait until every queued alert is triaged (or nothing moves for 120 s).
    last, still = None, time.time()
    while True:
        waiting = int(query("SELECT COUNT(*) FROM alerts WHERE intake = 'queued'")[0][0])
        if waiting == 0:
            break
        if waiting != last:
            last, still = waiting, time.time()
        elif time.time() - still > 120:
            break
        time.sleep(1)
    drained_secs = time.time() - started
    time.sleep(3)  # the last judgements reach the feeds
    stop.set()

    stored = query("SELECT COUNT(*), COUNT(DISTINCT alert_key) FROM alerts WHERE alert_key LIKE 'storm-%'")[0]
    complete = query("SELECT COUNT(*), COUNT(DISTINCT alert_id) FROM triages WHERE status = 'complete'")[0]
    twice = query("SELECT COUNT(*) FROM (SELECT alert_id FROM triages WHERE status = 'complete' GROUP BY alert_id HAVING COUNT(*) > 1) x")[0][0]
    untriaged = query("SELECT COUNT(*) FROM alerts a WHERE a.alert_key LIKE 'storm-%' AND NOT EXISTS "
                      "(SELECT 1 FROM triages t WHERE t.alert_id = a.id AND t.status = 'complete')")[0][0]
    abandoned = query("SELECT COUNT(*) FROM triages WHERE status = 'abandoned'")[0][0]
    span = query("SELECT MIN(created_at), MAX(finished_at) FROM triages WHERE status = 'complete'")[0]
    lost = sorted(set(acked) - {int(k[0].split('-')[1]) for k in query("SELECT alert_key FROM alerts WHERE alert_key LIKE 'storm-%'")})

    feed = []
    with lock:
        for name, tid, at in received:
            if tid in posted and posted[tid][0] != name:
                feed.append(at - posted[tid][1])
    from datetime import datetime
    def ts(s):
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    triage_secs = ts(span[1]) - ts(span[0]) if span[0] and span[1] else None
    report = {
        "backend": a.backend,
        "replicas": a.replicas,
        "analysts": a.analysts,
        "alerts": a.alerts,
        "requests": total,
        "killed_replica": kill if kill >= 0 else None,
        "killed_at_secs": round(killed_at, 1) if killed_at else None,
        "stored": int(stored[0]),
        "stored_distinct": int(stored[1]),
        "acknowledged_but_lost": len(lost),
        "complete_triages": int(complete[0]),
        "alerts_triaged": int(complete[1]),
        "alerts_triaged_twice": int(twice),
        "alerts_not_triaged": int(untriaged),
        "runs_abandoned": int(abandoned),
        "intake_p50_ms": pct(latencies, 0.5),
        "intake_p99_ms": pct(latencies, 0.99),
        "retries_after_429": retries_429[0],
        "failovers": failovers[0],
        "storm_secs": round(storm_secs, 1),
        "all_triaged_secs": round(drained_secs, 1),
        "triage_throughput_per_sec": round(int(complete[1]) / triage_secs, 1) if triage_secs else None,
        "judgements": len(posted),
        "feed_deliveries": len(feed),
        "verdict_to_other_consoles_p50_ms": pct(feed, 0.5),
        "verdict_to_other_consoles_p99_ms": pct(feed, 0.99),
    }
    for r in replicas:
        if r["alive"]:
            r["proc"].send_signal(signal.SIGTERM)
    for fp in feeds:
        fp.terminate()
    for r in replicas:
        try:
            r["proc"].wait(timeout=30)
        except subprocess.TimeoutExpired:
            r["proc"].kill()
    if stop_pg:
        stop_pg()
    print(json.dumps(report, indent=2))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(report, f, indent=2)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
