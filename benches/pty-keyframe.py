#!/usr/bin/env python3
"""Key-to-frame latency of the real console through a real pseudo-terminal, while ten
model streams deliver about 200 tokens/s each.

A scripted Anthropic server (SSE, the Messages API wire format) streams slowly; the
console runs `soc-copilot tui --engine anthropic` in a PTY (160x45 or 80x24), `a` starts
ten triages at once, and then, many times over: `?` is written to the PTY and the clock
runs until the frame bytes read back contain the help screen's title; `Esc` closes it.
STREAMS=0 measures the same with no streams running. Prints p50/p95/p99/max in milliseconds.

Usage: benches/pty-keyframe.py BIN DATA_DIR [COLS ROWS] [SAMPLES]
DATA_DIR must hold a knowledge base (`soc-copilot ingest`)."""

import json
import os
import pty
import select
import signal
import struct
import sys
import tempfile
import termios
import fcntl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKENS_PER_SEC = 200
BATCH = 4
# The help popup's title: drawn over the panes, so every one of its cells changes.
MARKER = b"Keys (? or Esc closes)"
STREAM_SECONDS = 120


def sse(event, data):
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class Model(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        self.rfile.read(length)
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        try:
            self.wfile.write(sse("message_start", {"type": "message_start", "message": {
                "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
                "content": [], "stop_reason": None, "usage": {"input_tokens": 1000, "output_tokens": 1}}}))
            self.wfile.write(sse("content_block_start", {"type": "content_block_start", "index": 0,
                                                         "content_block": {"type": "text", "text": ""}}))
            # One delta per token, written in batches of BATCH every BATCH/rate seconds (as
            # a network delivers them), so the mock's own CPU stays small on 2 cores.
            gap = BATCH / TOKENS_PER_SEC
            end = time.time() + STREAM_SECONDS
            n = 0
            while time.time() < end:
                out = b""
                for _ in range(BATCH):
                    n += 1
                    word = f"tok{n} " if n % 12 else f"tok{n}\n"
                    out += sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                       "delta": {"type": "text_delta", "text": word}})
                self.wfile.write(out)
                self.wfile.flush()
                time.sleep(gap)
        except (BrokenPipeError, ConnectionResetError):
            pass


def read_until(fd, marker, timeout):
    """Reads PTY output until `marker` appears; returns the arrival time, or None."""
    buf = b""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        r, _, _ = select.select([fd], [], [], 0.05)
        if not r:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return None
        if not chunk:
            return None
        buf = (buf + chunk)[-65536:]
        if marker in buf:
            return time.perf_counter()
    return None


def drain(fd, seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        r, _, _ = select.select([fd], [], [], 0.01)
        if r:
            try:
                os.read(fd, 65536)
            except OSError:
                return


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    binary, data_dir = sys.argv[1], sys.argv[2]
    cols = int(sys.argv[3]) if len(sys.argv) > 3 else 160
    rows = int(sys.argv[4]) if len(sys.argv) > 4 else 45
    samples = int(sys.argv[5]) if len(sys.argv) > 5 else 100
    streams = os.environ.get("STREAMS", "10") != "0"

    server = ThreadingHTTPServer(("127.0.0.1", 0), Model)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    conf = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
    conf.write("[tui]\nconcurrency = 10\n")
    conf.close()
    env = dict(os.environ, ANTHROPIC_API_KEY="sk-ant-bench", ANTHROPIC_BASE_URL=f"http://127.0.0.1:{port}",
               TERM="xterm-256color", SOC_COPILOT_LOG="warn")
    queue = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "queue")
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(binary, [binary, "--data-dir", data_dir, "--config", conf.name, "tui", "--engine",
                           "anthropic", queue], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.kill(pid, signal.SIGWINCH)
    try:
        if read_until(fd, b"alerts loaded", 60) is None:
            sys.exit("the console did not load its queue")
        drain(fd, 1.0)
        if streams:
            os.write(fd, b"a")  # triage every new alert: ten at once
            drain(fd, 3.0)      # the streams are flowing
        times = []
        for _ in range(samples):
            drain(fd, 0.05)
            t0 = time.perf_counter()
            os.write(fd, b"?")
            t1 = read_until(fd, MARKER, 5)
            if t1 is None:
                sys.exit("the help screen never appeared")
            times.append((t1 - t0) * 1000)
            os.write(fd, b"\x1b")
            drain(fd, 0.2)
        times.sort()
        pct = lambda p: times[min(len(times) - 1, int(p * len(times)))]
        what = f"10 streams at {TOKENS_PER_SEC} tok/s" if streams else "no streams"
        print(f"real PTY {cols}x{rows}, {what}, {len(times)} keys: "
              f"p50 {pct(0.50):.2f} ms, p95 {pct(0.95):.2f} ms, p99 {pct(0.99):.2f} ms, max {times[-1]:.2f} ms")
    finally:
        os.write(fd, b"q")
        time.sleep(0.3)
        os.write(fd, b"y")
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        server.shutdown()
        os.unlink(conf.name)


if __name__ == "__main__":
    main()
