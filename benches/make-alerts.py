#!/usr/bin/env python3
"""Writes N alerts as JSON lines: the sample queue's generic-shape alerts with fresh ids.

Usage: make-alerts.py N OUT ID_PREFIX [--reword]
With --reword a few words are added to every title so no two alerts read alike (every
query is embedded); without it the texts repeat (the query-vector cache answers repeats).
"""
import json, random, sys

n, out_path, prefix = int(sys.argv[1]), sys.argv[2], sys.argv[3]
reword = "--reword" in sys.argv[4:]
random.seed(7)
words = """invoice payroll budget contract shipping quarterly review audit merger vendor claims
policy benefits travel expense pricing forecast order delivery customs tender salary pension
refund statement receipt summary proposal agenda minutes schedule roster inventory""".split()
src = [json.loads(l) for l in open("data/queue/sample-queue.ndjson") if '"alert_id"' in l]
width = len(str(n - 1))
with open(out_path, "w") as out:
    for i in range(n):
        a = dict(src[i % len(src)])
        a["alert_id"] = f"{prefix}-{i:0{width}d}"
        if reword:
            key = "title" if "title" in a else "alert_text"
            a[key] = f"{a[key]} ({' '.join(random.sample(words, 3))})"
        out.write(json.dumps(a) + "\n")
