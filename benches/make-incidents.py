#!/usr/bin/env python3
"""Writes a labelled, interleaved alert stream for `soc-copilot eval incidents`.

Usage: make-incidents.py N OUT [SEED]

N alerts over 14 days: about a fifth belong to generated attacks (3-6 alerts each within an
hour or two: brute force from neighbouring addresses of one /24 against several hosts, a
phish that runs on one workstation and moves on, one malware hash on several machines),
the rest are unrelated background alerts from a fleet of 3,000 hosts and 2,000 users, some
naming public addresses of their own. Every line is {"incident": label|null, "alert": {...}}
in time order. It is written from the generator's rules, not from the correlator's, and is
used only for measurement (scale and precision on alerts the correlator was never tuned on).
"""
import json, random, sys
from datetime import datetime, timedelta, timezone

n, out_path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 11)
start = datetime(2026, 10, 1, tzinfo=timezone.utc)
span = 14 * 86400
hosts = [f"{rng.choice(['ws', 'lt', 'srv', 'app', 'db'])}-{i:04d}" for i in range(3000)]
users = [f"user{i:04d}" for i in range(2000)]
noise_titles = ["Unusual login time", "Software installed", "USB device attached",
                "Service restarted", "Policy change detected", "Large outbound transfer",
                "DNS query to rare domain", "Scheduled task modified", "Failed logon"]

def public_ip():
    return f"{rng.choice([23, 45, 62, 77, 91, 103, 141, 172, 185, 194])}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"

def alert(i, t, title, host, user, extra):
    a = {"alert_id": f"gen-{i:06d}", "source": "edr", "severity": rng.choice(["low", "medium", "high"]),
         "title": title, "description": title, "timestamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
         "host": host, "user": user}
    a.update(extra)
    return a

events = []  # (time, label, alert-builder args)
n_attack = n // 5
label = 0
while sum(1 for e in events if e[1]) < n_attack:
    label += 1
    lab = f"gen-inc-{label:04d}"
    t0 = start + timedelta(seconds=rng.randint(0, span))
    kind = label % 3
    if kind == 0:  # brute force from one /24 on several hosts, then a success
        net = public_ip().rsplit(".", 1)[0]
        for k in range(rng.randint(3, 5)):
            ip = f"{net}.{rng.randint(1, 254)}"
            events.append((t0 + timedelta(minutes=k * rng.randint(5, 14)), lab,
                           "SSH brute force", rng.choice(hosts), "", {"src_ip": ip,
                           "raw_log": f"Failed password for invalid user admin from {ip}"}))
    elif kind == 1:  # phish on one workstation moving on
        host, user, c2 = rng.choice(hosts), rng.choice(users), public_ip()
        steps = ["Macro document opened", "PowerShell encoded command", "Registry run key added",
                 "LSASS memory access", "Beacon to rare address"]
        for k, s in enumerate(steps[:rng.randint(3, 5)]):
            extra = {"dest_ip": c2} if k in (1, 4) else {}
            events.append((t0 + timedelta(minutes=k * rng.randint(4, 11)), lab, s, host, user, extra))
    else:  # one malware hash on several machines
        h = "".join(rng.choice("0123456789abcdef") for _ in range(64))
        for k in range(rng.randint(3, 6)):
            events.append((t0 + timedelta(minutes=k * rng.randint(3, 25)), lab,
                           "Malicious file detected", rng.choice(hosts), rng.choice(users),
                           {"file_hash": h}))
while len(events) < n:
    extra = {"dest_ip": public_ip()} if rng.random() < 0.3 else {}
    events.append((start + timedelta(seconds=rng.randint(0, span)), None,
                   rng.choice(noise_titles), rng.choice(hosts), rng.choice(users), extra))
events = events[:n]
events.sort(key=lambda e: e[0])
with open(out_path, "w") as out:
    for i, (t, lab, title, host, user, extra) in enumerate(events):
        out.write(json.dumps({"incident": lab, "alert": alert(i, t, title, host, user, extra)}) + "\n")
