#!/usr/bin/env python3
"""A stand-in OpenTelemetry collector for benchmarks: accepts OTLP/HTTP exports on
POST /v1/traces, answers 200, and counts requests and bytes (printed on Ctrl-C or SIGTERM).
It decodes nothing, so it costs the machine next to nothing and the benchmark measures
Nakku's side of tracing: making, batching, encoding and sending spans.

    scripts/otlp-sink.py [PORT]        # default 4318
    NAKKU_OTLP_ENDPOINT=http://127.0.0.1:4318 nakku bench orders ...
"""
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

seen = {"requests": 0, "bytes": 0}


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        seen["requests"] += 1
        seen["bytes"] += n
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def report(*_):
    print(f"otlp-sink: {seen['requests']} exports, {seen['bytes']} bytes", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, report)
    signal.signal(signal.SIGINT, report)
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 4318
    ThreadingHTTPServer(("127.0.0.1", port), Sink).serve_forever()
