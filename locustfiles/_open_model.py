"""The open model in Locust: requests on a schedule fixed in advance, latency from the intended send.

Locust's users are a closed model: each waits for its answer before it sends again, so while a
server stalls fewer requests are sent and the percentiles hide the stall (coordinated omission).
An OpenModelUser instead runs a schedule: the k-th request of the user is due at a time fixed
before the test (constant gaps of users/rate, or Poisson arrivals of that mean), and each due
request is sent from a greenlet of its own, whether or not earlier ones were answered, up to an
in-flight cap. Its latency runs from the time it was due, so a stall counts for every request
it delayed. The rate (--rate, total over every user of every worker) is split evenly between
the users; one user per worker is enough (it sends from as many greenlets as the cap allows).

Each process records latencies in an HdrHistogram (lab/load/openmodel.py). A worker sends what
it recorded since its last report with its ordinary stats report (report_to_master: every 3 s,
and on the runner's window flushes, locustfiles/_control.py), then starts a new one; the master
adds them up. Locust's own stats are kept as they are (its response times run from the actual send).

The generator's own lateness is measured too: send lag, the time from when a request was due
to when it went out. Over --lag-bound-ms (at p99) the result is flagged: the rate asked was
not the rate sent.
"""

import atexit
import json
import logging
import os
import socket
import time

import gevent
from gevent.pool import Pool

from locust import FastHttpUser, events, task
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from _lab import load

openmodel = load("lab/load/openmodel.py", "lab_load_openmodel")

DEFAULT_CAP = 1000
DEFAULT_LAG_BOUND_MS = openmodel.LAG_BOUND_MS
DEFAULT_TIMEOUT_S = 10.0
DRAIN_S = 5.0


class OpenStats:
    """What this process measured: on a worker, since its last report; on the master, the sum."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.latency = openmodel.histogram()
        self.lag = openmodel.histogram()
        self.counts = {"sent": 0, "ok": 0, "errors": 0, "timeouts": 0, "capped": 0}
        self.first_due: float | None = None  # wall clock, the earliest due time of any request
        self.errors_seen: dict[str, int] = {}

    def due(self, wall: float):
        self.first_due = wall if self.first_due is None else min(self.first_due, wall)

    def error(self, kind: str, text: str):
        self.counts[kind] += 1
        key = text[:200]
        if key in self.errors_seen or len(self.errors_seen) < 20:
            self.errors_seen[key] = self.errors_seen.get(key, 0) + 1

    def export(self) -> dict:
        return {
            "latency": openmodel.encode(self.latency),
            "lag": openmodel.encode(self.lag),
            "counts": dict(self.counts),
            "first_due": self.first_due,
            "errors_seen": dict(self.errors_seen),
        }

    def add(self, data: dict):
        self.latency.add(openmodel.decode(data["latency"]))
        self.lag.add(openmodel.decode(data["lag"]))
        for key, value in data["counts"].items():
            self.counts[key] = self.counts.get(key, 0) + int(value)
        if data.get("first_due") is not None:
            self.due(data["first_due"])
        for key, value in data.get("errors_seen", {}).items():
            self.errors_seen[key] = self.errors_seen.get(key, 0) + int(value)

    def summary(self, rate: float, stopped_at: float | None, lag_bound_ms: float, workers: int) -> dict:
        """The result's facts; `flags` says why it must not be read as the rate asked."""
        span = None if self.first_due is None or stopped_at is None else max(stopped_at - self.first_due, 1e-9)
        achieved = None if span is None else self.counts["sent"] / span
        lag = openmodel.percentiles_ms(self.lag)
        flags = []
        if lag["99"] is not None and lag["99"] > lag_bound_ms:
            why = f"{self.counts['capped']} requests waited for the in-flight cap" if self.counts["capped"] else "the generator was short of time"
            flags.append(f"schedule not kept: p99 send lag {lag['99']:g} ms over the {lag_bound_ms:g} ms bound ({why})")
        if achieved is not None and achieved < 0.98 * rate:
            flags.append(f"rate not kept: {achieved:.1f} req/s sent of {rate:g} asked")
        return {
            "rate_asked": rate,
            "rate_achieved": None if achieved is None else round(achieved, 2),
            "span_s": None if span is None else round(span, 3),
            "send_lag_ms": lag["99"],
            "send_lag_max_ms": lag["max"],
            "send_lag_bound_ms": lag_bound_ms,
            **self.counts,
            "percentiles_ms": openmodel.percentiles_ms(self.latency),
            "histogram": openmodel.encode(self.latency),
            "send_lag_histogram": openmodel.encode(self.lag),
            "errors_seen": dict(self.errors_seen),
            "workers": workers,
            "flags": flags,
        }


STATS = OpenStats()
_run: dict = {}  # stopping: the test was told to stop; stopped_at (master, local): when, wall clock


def options(environment):
    parsed = environment.parsed_options
    return {
        "rate": float(getattr(parsed, "rate", 0) or 0),
        "arrivals": getattr(parsed, "arrivals", "constant") or "constant",
        "cap": int(getattr(parsed, "max_in_flight", DEFAULT_CAP) or DEFAULT_CAP),
        "lag_bound_ms": float(getattr(parsed, "lag_bound_ms", DEFAULT_LAG_BOUND_MS) or DEFAULT_LAG_BOUND_MS),
        "timeout": float(getattr(parsed, "request_timeout", DEFAULT_TIMEOUT_S) or DEFAULT_TIMEOUT_S),
        # Set by the master (or the local runner) when the test starts: the total user count.
        "users": max(int(getattr(parsed, "open_users", 1) or 1), 1),
    }


class OpenModelUser(FastHttpUser):
    """Sends `request()` on the schedule; a subclass says what one request is (and checks it)."""

    abstract = True

    def __init__(self, environment):
        found = options(environment)
        # The connection pool is the in-flight cap, so a due request never waits for a connection
        # while fewer than the cap are out.
        self.cap = max(1, found["cap"] // found["users"])
        self.concurrency = self.cap
        self.network_timeout = self.connection_timeout = found["timeout"]
        super().__init__(environment)
        self.share = found["rate"] / found["users"]
        self.arrivals = found["arrivals"]
        self.pool = Pool(self.cap)

    def request(self) -> str | None:
        """Send one request; return why it failed, or None. Mark Locust's response failed too."""
        raise NotImplementedError

    def on_stop(self):
        # Requests still out get up to DRAIN_S to finish: leaving them out would drop exactly the
        # slow ones. What is still out then counts as sent, not answered.
        self.pool.join(timeout=min(DRAIN_S, self.network_timeout))
        self.pool.kill(block=False)

    @task
    def run_schedule(self):
        if self.share <= 0:
            logging.error("open model: no rate set (--rate, or Rate in the web UI's Custom parameters): this user sends nothing")
            raise StopUser()
        wall0, due = time.time(), time.perf_counter()
        start = due
        for gap in openmodel.gaps(self.share, self.arrivals):
            if _run.get("stopping"):
                raise StopUser()  # nothing due after the stop is sent; on_stop drains what is out
            now = time.perf_counter()
            if due > now:
                gevent.sleep(due - now)
                if _run.get("stopping"):
                    raise StopUser()
            if self.pool.full():
                STATS.counts["capped"] += 1
            STATS.due(wall0 + (due - start))
            self.pool.spawn(self.one, due)  # blocks while the cap is reached: those wait, their clock runs
            due += gap

    def one(self, due: float):
        sent = time.perf_counter()
        STATS.counts["sent"] += 1
        openmodel.record(STATS.lag, sent - due)
        try:
            problem = self.request()
        except Exception as error:  # a Locust user must not die of one request
            problem = f"{type(error).__name__}: {error}"
        done = time.perf_counter()
        if problem is None:
            STATS.counts["ok"] += 1
            openmodel.record(STATS.latency, done - due)
        elif "timeout" in problem.lower() or "timed out" in problem.lower():
            STATS.error("timeouts", problem)
        else:
            STATS.error("errors", problem)


def check_status(response) -> str | None:
    """The failure of a response that did not come back 2xx (or not at all), marked in Locust's stats."""
    error = getattr(response, "error", None)
    status = response.status_code or 0
    if status and not 200 <= status < 300:
        problem = f"HTTP {status}"
    elif error is not None:
        kind = "timeout" if isinstance(error, (socket.timeout, TimeoutError, gevent.Timeout)) else type(error).__name__
        problem = f"{kind}: {error}"
    elif not status:
        problem = "no answer"
    else:
        return None
    response.failure(problem)
    return problem


@events.init_command_line_parser.add_listener
def add_options(parser):
    parser.add_argument("--rate", type=float, default=0.0, include_in_web_ui=True, help="open model: requests per second, total over all users and workers")
    parser.add_argument("--arrivals", choices=list(openmodel.ARRIVALS), default="constant", include_in_web_ui=True, help="open model: constant gaps or Poisson arrivals")
    parser.add_argument("--max-in-flight", type=int, default=DEFAULT_CAP, include_in_web_ui=True, help="open model: requests out at once, at most (total)")
    parser.add_argument("--lag-bound-ms", type=float, default=DEFAULT_LAG_BOUND_MS, include_in_web_ui=False, help="open model: p99 send lag above which the result is flagged")
    parser.add_argument("--request-timeout", type=float, default=DEFAULT_TIMEOUT_S, include_in_web_ui=False, help="open model: seconds before a request counts as a timeout")
    parser.add_argument("--open-path", default="/json", include_in_web_ui=True, help="open model: the path (and query) each request GETs")
    parser.add_argument("--latency-out", default="", include_in_web_ui=False, help="open model: write the merged result (JSON) here at exit")


@events.test_start.add_listener
def on_test_start(environment, **_kwargs):
    runner = environment.runner
    _run["stopping"] = False
    if not isinstance(runner, WorkerRunner):
        # Sent to the workers with the spawn message (a custom option): each user's share of the rate.
        if environment.parsed_options is not None:
            environment.parsed_options.open_users = max(runner.target_user_count, 1)
        STATS.reset()
        _run.pop("stopped_at", None)


@events.test_stopping.add_listener
def on_test_stopping(environment, **_kwargs):
    # Users are stopped a little after this event: the schedule ends here, on every process.
    _run["stopping"] = True
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        _run["stopped_at"] = time.time()
        # Counted now: at exit, a headless master's workers have already gone.
        _run["workers"] = runner.worker_count if isinstance(runner, MasterRunner) else 1


@events.report_to_master.add_listener
def on_report_to_master(data, **_kwargs):
    if STATS.counts["sent"] or STATS.first_due is not None:  # nothing to say for a closed-model test
        data["open_model"] = STATS.export()
        STATS.reset()


@events.worker_report.add_listener
def on_worker_report(data, **_kwargs):
    if "open_model" in data:
        STATS.add(data["open_model"])


@events.reset_stats.add_listener
def on_reset_stats(**_kwargs):
    STATS.reset()


def result(environment) -> dict:
    found = options(environment)
    runner = environment.runner
    workers = _run.get("workers") or (runner.worker_count if isinstance(runner, MasterRunner) else 1)
    return {
        "host": environment.host,
        "arrivals": found["arrivals"],
        "max_in_flight": found["cap"],
        "users": found["users"],
        **STATS.summary(found["rate"], _run.get("stopped_at") or time.time(), found["lag_bound_ms"], workers),
    }


@events.init.add_listener
def on_init(environment, runner=None, web_ui=None, **_kwargs):
    if web_ui is not None:
        # The open model's numbers so far, for a look from the UI or a script (the master's sum).
        web_ui.app.add_url_rule("/lab/latency", "lab_latency", lambda: result(environment), methods=["GET"])
    out = getattr(environment.parsed_options, "latency_out", "")
    if out and not isinstance(runner, WorkerRunner):

        def write():
            tmp = f"{out}.tmp"
            with open(tmp, "w") as handle:
                json.dump(result(environment), handle, indent=2)
            os.replace(tmp, out)

        # After Locust's own shutdown, when the last reports are in (as _common's final stats).
        atexit.register(write)
