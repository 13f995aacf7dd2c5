"""An HTTP server on loopback that stalls on a known schedule: in every PERIOD seconds (counted
from its start) it answers nothing for the first STALL seconds, then everything at once; the
rest of the time it answers at once. A known stall, so the latency it causes is known too.

For an open-model load at a constant rate, a request due at a uniformly spread moment of the
period falls in the stall with probability STALL/PERIOD and then waits for the rest of it,
uniformly 0..STALL: for a percentile p above 1 - STALL/PERIOD the latency is
STALL * (p - (1 - STALL/PERIOD)) / (STALL/PERIOD), e.g. 200 ms every 1 s: p90 100 ms, p99 190 ms.
A closed-model load sends one request per user during a stall, and thousands between: its p99
never sees it.

    python tests/support/stall_server.py --stall 0.2 --period 1.0   (prints its port, serves until killed)
"""

import argparse
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = b'{"message":"Hello, World!"}'


def expected_ms(percentile: float, stall: float, period: float) -> float:
    """The open model's latency at `percentile` (0..100) from the stall alone (service time 0)."""
    share = stall / period
    p = percentile / 100
    return 0.0 if p <= 1 - share else 1000 * stall * (p - (1 - share)) / share


class StallServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, stall: float, period: float, status: int = 200, port: int = 0):
        self.stall, self.period, self.status, self.t0 = stall, period, status, time.monotonic()
        self.fail_after: int | None = None  # answer 503 to every request after this many
        self.answered = 0
        super().__init__(("127.0.0.1", port), Handler)

    def wait_out_stall(self):
        if self.stall <= 0:
            return
        into = (time.monotonic() - self.t0) % self.period
        if into < self.stall:
            time.sleep(self.stall - into)

    def handle_error(self, request, client_address):
        pass  # a client that hung up mid-answer (the load's end) is no news

    def serve_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        return thread


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: one connection per client greenlet
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK wait

    def do_GET(self):
        self.server.wait_out_stall()
        server = self.server
        server.answered += 1  # under the GIL; exact enough for "after the first"
        failing = server.fail_after is not None and server.answered > server.fail_after
        self.send_response(503 if failing else server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *_args):
        pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stall", type=float, default=0.2)
    parser.add_argument("--period", type=float, default=1.0)
    parser.add_argument("--status", type=int, default=200)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = StallServer(args.stall, args.period, args.status, args.port)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
