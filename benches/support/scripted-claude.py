#!/usr/bin/env python3
"""A scripted Anthropic Messages API for driving the console by hand (tmux) without a key.

Speaks the real wire format: `POST /v1/messages` with `stream: true` answers an SSE stream
(message_start, content_block_start, content_block_delta…, message_delta, message_stop);
errors are JSON bodies with status codes. The script, per request, in order:

  1. 529 overloaded_error with `retry-after: 2`     (the console says it retries, and when)
  2. an answer with no usable verdict JSON           (the repair is asked for…)
  3. a repair that is still not JSON                 (…and the triage fails, salvageable)
  4+ a valid verdict, streamed slowly (one word per 40 ms); chat questions get prose.
     In agentic mode (the request carries `tools`): first two tool calls in one turn
     (related alerts, and the technique detail), then a turn asking for T9999 (a failing
     tool) and the IOC history of the first IP in the alert, then the verdict, whose
     evidence quotes one tool result exactly and fabricates one quote (shown unverified).

Usage: benches/support/scripted-claude.py PORT
then:  ANTHROPIC_API_KEY=test ANTHROPIC_BASE_URL=http://127.0.0.1:PORT soc-copilot tui
"""
import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COUNT = {"n": 0}

VERDICT = {
    "verdict": "HIGH",
    "confidence": 0.8,
    "matched_techniques": [
        {"id": "T1059.001", "name": "PowerShell", "rationale": "encoded command line"}
    ],
    "attack_chain": [
        {"tactic": "Execution", "technique": "T1059.001", "description": "PowerShell ran"}
    ],
    "reasoning": "The process tree and the encoded command point to execution.",
    "recommended_actions": ["Isolate the host", "Collect the PowerShell log"],
    "false_positive_indicators": ["A signed admin script run by SCCM"],
    "investigation_queries": [],
    "evidence": [],
    "escalation": {"recommended": True, "draft": "Escalating: encoded PowerShell."},
}


def sse(event, data):
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def error(self, status, kind, message, headers=()):
        body = json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def start(self, input_tokens):
        """SSE headers and message_start; returns the writer."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(sse("message_start", {"type": "message_start", "message": {
            "id": "msg_scripted", "type": "message", "role": "assistant",
            "model": "claude-sonnet-4-5", "content": [], "stop_reason": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}))
        return self.wfile

    def stream(self, words, delay):
        w = self.start(1200)
        w.write(sse("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": {"type": "text", "text": ""}}))
        for word in words:
            w.write(sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": word}}))
            w.flush()
            time.sleep(delay)
        w.write(sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
        w.write(sse("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": "end_turn"},
                                      "usage": {"output_tokens": len(words)}}))
        w.write(sse("message_stop", {"type": "message_stop"}))
        w.flush()
        self.close_connection = True

    def tool_turn(self, calls):
        w = self.start(1500)
        for i, (cid, name, args) in enumerate(calls):
            w.write(sse("content_block_start", {"type": "content_block_start", "index": i,
                                                 "content_block": {"type": "tool_use", "id": cid,
                                                                   "name": name, "input": {}}}))
            text = json.dumps(args)
            for k in range(0, len(text), 8):
                w.write(sse("content_block_delta", {"type": "content_block_delta", "index": i,
                                                    "delta": {"type": "input_json_delta",
                                                              "partial_json": text[k:k + 8]}}))
                w.flush()
                time.sleep(0.05)
            w.write(sse("content_block_stop", {"type": "content_block_stop", "index": i}))
        w.write(sse("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": "tool_use"},
                                      "usage": {"output_tokens": 60}}))
        w.write(sse("message_stop", {"type": "message_stop"}))
        w.flush()
        self.close_connection = True

    def agentic(self, req):
        msgs = req.get("messages", [])
        results = [b for m in msgs if isinstance(m.get("content"), list)
                   for b in m["content"] if b.get("type") == "tool_result"]
        first = msgs[0]["content"] if msgs and isinstance(msgs[0]["content"], str) else ""
        ip = re.search(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", first)
        if not results:
            return self.tool_turn([("toolu_01related", "related_alerts", {"hours": 24}),
                                   ("toolu_02tech", "attack_technique", {"id": "T1059.001"})])
        if len(results) == 2:
            calls = [("toolu_03bad", "attack_technique", {"id": "T9999"})]
            if ip:
                calls.append(("toolu_04hist", "ioc_history", {"indicator": ip.group(0)}))
            return self.tool_turn(calls)
        body = next((r["content"] for r in results if r["tool_use_id"] == "toolu_02tech"), "")
        inner = re.search(r"<<(TOOL-[0-9a-f]+)>>\n(.*?)\n", body)
        quote = inner.group(2)[:60] if inner else "T1059.001"
        verdict = dict(VERDICT)
        verdict["evidence"] = [
            {"claim": "the technique is PowerShell", "source": "toolu_02tech", "quote": quote},
            {"claim": "the host beaconed to 40 other hosts", "source": "toolu_01related",
             "quote": "40 hosts contacted the same address"},
        ]
        words = [w + " " for w in "## Assessment\nThe tools confirm PowerShell execution. ".split(" ")]
        return self.stream(words + ["\n```json\n", json.dumps(verdict), "\n```"], 0.04)

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        req = json.loads(self.rfile.read(length) or b"{}")
        COUNT["n"] += 1
        n = COUNT["n"]
        chat = "already been triaged" in json.dumps(req.get("system", ""))
        if n == 1:
            return self.error(529, "overloaded_error", "Overloaded", [("retry-after", "2")])
        if n == 2:
            text = "## Assessment\nWord spawned encoded PowerShell. **Verdict: HIGH**, T1059.001 and T1204.002. {\"verdict\": "
            return self.stream([w + " " for w in text.split(" ")], 0.04)
        if n == 3:
            return self.stream(["Sorry, ", "still ", "no ", "JSON."], 0.04)
        if chat:
            return self.stream([w + " " for w in "FIN7 and APT29 use encoded PowerShell; check the parent process.".split(" ")], 0.04)
        if req.get("tools") and not req.get("tool_choice"):
            return self.agentic(req)
        prose = "## Assessment\nOffice spawned PowerShell with an encoded command. ".split(" ")
        words = [w + " " for w in prose] + ["\n```json\n", json.dumps(VERDICT), "\n```"]
        return self.stream(words, 0.04)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8099
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
