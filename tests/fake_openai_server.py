"""A real HTTP server on loopback that speaks the OpenAI chat-completions protocol, with injected faults.

Used by tests/test_cleaning*.py (in a thread) and benchmarks/bench_cleaning.py (as a subprocess:
`python tests/fake_openai_server.py --delay 0.2` prints its base URL on the first line).

Answers: a cleaning request (any request whose system message is not the judge's) is answered with the
project's rules cleaner applied to the report between `<<<` and `>>>`; a report the rules cannot clean
gets a wrong-format answer. A judge request is answered `VERDICT: PASS`, or `VERDICT: FAIL` when the raw
report contains JUDGE_REJECTS. A report containing ALWAYS_MALFORMED always gets a wrong-format answer.

Faults: `faults` is a list of fault names given, in order, to the first requests that arrive:
"ok" (no fault: a normal answer), "429" (with Retry-After), "500", "400" (a request the server rejects),
"401" (a wrong key), "slow" (answers after `slow_s`, longer than the client's timeout),
"drop" (closes the connection without answering), "bad_json" (HTTP 200 with a body that is not JSON),
"empty" (empty content), "wrong_format" (content that is not FINDINGS/IMPRESSION).
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from unix.cleaning.rules import clean_report_rules

FAULTS = ("ok", "429", "500", "400", "401", "slow", "drop", "bad_json", "empty", "wrong_format")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # the listen() backlog: 64 clients connect at once (the default is 5)


class FakeOpenAIServer:
    """A chat-completions server on 127.0.0.1 (see the module docstring)."""

    def __init__(self, delay_s: float = 0.0, faults: list[str] | None = None, retry_after_s: float = 0.2,
                 slow_s: float = 2.0, model: str = "fake-deepseek"):
        for f in faults or []:
            assert f in FAULTS, f
        self.delay_s = delay_s
        self.faults = list(faults or [])
        self.retry_after_s = retry_after_s
        self.slow_s = slow_s
        self.model = model
        self.lock = threading.Lock()
        self.requests = 0
        self.outcomes: Counter = Counter()
        self.auth_headers: set[str] = set()
        self.clean_reports: Counter = Counter()  # raw report -> clean requests answered OK
        self.in_flight = 0
        self.max_in_flight = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- the protocol -----------------------------------------------------------------------------------
    def answer(self, body: dict) -> str:
        messages = body.get("messages", [])
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        user = next((m["content"] for m in messages if m.get("role") == "user"), "")
        blocks = re.findall(r"<<<\n(.*?)\n>>>", user, re.DOTALL)
        raw = blocks[0] if blocks else user
        if "You check the work" in system:
            if "JUDGE_REJECTS" in raw:
                return "VERDICT: FAIL\nREASON: the cleaned report drops a finding."
            return "VERDICT: PASS\nREASON: same findings, certainty and locations."
        if "ALWAYS_MALFORMED" in raw:
            return "Sure! Here is the cleaned report."
        cleaned, _ = clean_report_rules(raw)
        with self.lock:
            self.clean_reports[raw] += 1
        return cleaned or "I cannot clean this report."

    def next_fault(self) -> str | None:
        with self.lock:
            self.requests += 1
            n = self.requests
            fault = self.faults.pop(0) if self.faults else None
            fault = None if fault == "ok" else fault
            self.outcomes[fault or "ok"] += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return fault, n

    def _handler(server_self):  # noqa: N805 - closes over the server object
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY, as real servers (uvicorn, vLLM) set it: with Nagle's algorithm on, a response
            # sent as two segments waits for the client's delayed ACK (up to 40 ms on Linux), which made
            # the loopback server answer a 200 ms request in about 245 ms.
            disable_nagle_algorithm = True
            wbufsize = -1  # buffered: _send flushes the response once

            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, payload: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()  # headers and body leave in one write (wbufsize)

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server_self.lock:
                    server_self.auth_headers.add(self.headers.get("Authorization", ""))
                fault, n = server_self.next_fault()
                try:
                    self._serve(body, fault, n)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    with server_self.lock:
                        server_self.in_flight -= 1

            def _serve(self, body: dict, fault: str | None, n: int) -> None:
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                if fault == "429":
                    self._send(429, b'{"error": {"message": "rate limited", "type": "rate_limit"}}',
                               {"Retry-After": f"{server_self.retry_after_s:g}"})
                    return
                if fault == "500":
                    self._send(500, b'{"error": {"message": "internal error"}}')
                    return
                if fault == "400":
                    self._send(400, b'{"error": {"message": "context length exceeded", "type": "invalid_request"}}')
                    return
                if fault == "401":
                    self._send(401, b'{"error": {"message": "invalid api key", "type": "auth"}}')
                    return
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                time.sleep(server_self.slow_s if fault == "slow" else server_self.delay_s)
                if fault == "bad_json":
                    self._send(200, b'{"id": "chatcmpl-broken", "choices": [{"mess')
                    return
                content = {"empty": "", "wrong_format": "Here is the cleaned report you asked for."}.get(
                    fault, None)
                if content is None:
                    content = server_self.answer(body)
                prompt_text = " ".join(m.get("content", "") for m in body.get("messages", []))
                payload = {
                    "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
                    "model": server_self.model,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": len(prompt_text.split()), "completion_tokens": len(content.split()),
                              "total_tokens": len(prompt_text.split()) + len(content.split())},
                }
                self._send(200, json.dumps(payload).encode(), {"x-request-id": f"req-{n}"})

        return Handler

    # -- life cycle -------------------------------------------------------------------------------------
    def start(self, port: int = 0) -> str:
        """Start serving in a daemon thread; return the base URL (http://127.0.0.1:PORT/v1)."""
        self._httpd = _Server(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self.base_url

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeOpenAIServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)
    server = FakeOpenAIServer(delay_s=args.delay)
    print(server.start(args.port), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
