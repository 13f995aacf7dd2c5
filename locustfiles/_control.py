"""Exact measurement windows on a long-lived Locust master, for the lab's runner.

The runner drives the master the way the web UI does (POST /swarm, GET /stats/...), plus the
two routes below, which the web UI lacks:

    POST /lab/window/start   every worker flushes what it has not reported yet, then the
                             master resets its stats: the window starts empty, ramp excluded
    POST /lab/window/stop    the master stops the users, every worker flushes its last
                             numbers, and the window's facts come back as JSON
    GET  /lab/state          the master's state and user count now (Locust keeps what
                             /stats/requests says for 2 s, so a runner waiting on the
                             ramp would wait up to 2 s more than the ramp takes)

Why a flush: a worker sends its numbers every 3 s (WORKER_REPORT_INTERVAL). A plain
/stats/reset on the master would let up to 3 s of ramp arrive after the reset and count in
the window; a stop would leave up to 3 s out of it. Messages from one worker arrive in order,
so once a worker's `lab_flushed` reply is in, everything it measured before is in too.

Each worker also reports, per window, its own request count and CPU use (time on a core, and
time runnable but waiting for one: Linux schedstat), so the runner can tell which worker
carried the load and whether the generator itself was short of CPU. A worker that does not
answer a flush (it died, or lost its link) is named in the reply: the step fails with that
reason instead of reporting a lower number.
"""

import time

import gevent
import psutil

from locust import events
from locust.runners import MasterRunner, WorkerRunner

FLUSH_TIMEOUT = 5.0  # seconds a worker gets to answer; its reports travel every 3 s at worst


def cpu_now() -> dict:
    """This process's CPU seconds so far, and its seconds spent waiting for a core (None off Linux)."""
    times = psutil.Process().cpu_times()
    try:
        with open("/proc/self/schedstat") as handle:
            waited = int(handle.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        waited = None
    return {"time": time.time(), "cpu": times.user + times.system, "waited": waited}


def usage(start: dict, end: dict) -> dict:
    """CPU % of one core over [start, end], and demand % (CPU plus waiting for a core)."""
    wall = max(end["time"] - start["time"], 1e-9)
    cpu = end["cpu"] - start["cpu"]
    demand = None if start["waited"] is None or end["waited"] is None else cpu + end["waited"] - start["waited"]
    return {
        "seconds": round(wall, 3),
        "cpu_percent": round(100 * cpu / wall, 1),
        "demand_percent": None if demand is None else round(100 * demand / wall, 1),
    }


class WorkerWindow:
    """On a worker: counts its own requests and CPU between two flushes."""

    def __init__(self, runner: WorkerRunner):
        self.runner = runner
        self.requests = self.failures = 0
        self.started = cpu_now()
        self.stopped: dict | None = None
        runner.register_message("lab_flush", self.on_flush)
        runner.environment.events.request.add_listener(self.on_request)
        runner.environment.events.test_stopping.add_listener(self.on_stopping)

    def on_stopping(self, **_kwargs):
        # The window's CPU ends when the users are told to stop, not when the flush comes.
        self.stopped = cpu_now()

    def on_request(self, exception=None, **_kwargs):
        self.requests += 1
        self.failures += exception is not None

    def on_flush(self, environment, msg, **_kwargs):
        # The same report the worker sends every 3 s (Runner._send_stats), now, through public events.
        data: dict = {}
        environment.events.report_to_master.fire(client_id=self.runner.client_id, data=data)
        self.runner.send_message("stats", data)
        now = cpu_now()
        end = self.stopped if msg.data.get("phase") == "stop" and self.stopped else now
        reply = {"id": self.runner.client_id, "requests": self.requests, "failures": self.failures, **usage(self.started, end)}
        if msg.data.get("phase") == "start":
            self.requests = self.failures = 0
            self.started, self.stopped = now, None
        self.runner.send_message("lab_flushed", {"nonce": msg.data["nonce"], **reply})


class MasterWindow:
    """On the master: the two routes, and the bookkeeping of which worker has answered a flush."""

    def __init__(self, runner: MasterRunner, web_ui):
        self.runner = runner
        self.web_ui = web_ui
        self.replies: dict[str, dict] = {}
        self.nonce = 0
        self.window_start: float | None = None
        self.master_cpu = cpu_now()
        runner.register_message("lab_flushed", self.on_flushed)
        web_ui.app.add_url_rule("/lab/window/start", "lab_window_start", self.start, methods=["POST"])
        web_ui.app.add_url_rule("/lab/window/stop", "lab_window_stop", self.stop, methods=["POST"])
        web_ui.app.add_url_rule("/lab/state", "lab_state", self.state, methods=["GET"])

    def on_flushed(self, environment, msg, **_kwargs):
        reply = dict(msg.data)
        if reply.pop("nonce", None) == self.nonce:
            self.replies[msg.node_id] = reply

    def flush(self, phase: str) -> tuple[dict[str, dict], list[str]]:
        """Every connected worker's reply, and the ids of those that did not answer in time."""
        self.nonce += 1
        self.replies = {}
        # A worker the master already counts as missing (no heartbeat) cannot answer: not asked.
        expected = [client.id for client in self.runner.clients.values() if client.state != "missing"]
        for client_id in expected:
            self.runner.send_message("lab_flush", {"nonce": self.nonce, "phase": phase}, client_id=client_id)
        deadline = time.monotonic() + FLUSH_TIMEOUT
        while time.monotonic() < deadline and not set(expected) <= set(self.replies):
            gevent.sleep(0.01)
        return dict(self.replies), [client_id for client_id in expected if client_id not in self.replies]

    def start(self):
        from flask import jsonify

        replies, silent = self.flush("start")
        stats = self.runner.stats
        stats.reset_all()
        # As the web UI's reset does: listeners' own stats start with the window too (the open model's histograms).
        self.runner.environment.events.reset_stats.fire()
        self.runner.exceptions = {}
        self.window_start = stats.start_time
        self.master_cpu = cpu_now()
        return jsonify({"window_start": self.window_start, "workers": sorted(replies), "silent": silent, "users": self.runner.user_count})

    def state(self):
        from flask import jsonify

        return jsonify({"state": self.runner.state, "user_count": self.runner.user_count})

    def forget_cached_stats(self) -> None:
        """Locust memoizes GET /stats/requests for 2 s: a poll from a web UI page (or the runner's own
        watch) just before the stop would otherwise be what the runner reads as the window's final stats."""
        view = self.web_ui.app.view_functions.get("locust.request_stats")
        while view is not None and not hasattr(view, "clear_cache"):
            view = getattr(view, "__wrapped__", None)
        if view is not None:
            view.clear_cache()

    def stop(self):
        from flask import jsonify

        window_end = time.time()
        master = usage(self.master_cpu, cpu_now())
        users = self.runner.user_count
        missing = [client.id for client in self.runner.clients.values() if client.state == "missing"]
        self.runner.stop()
        replies, silent = self.flush("stop")
        self.forget_cached_stats()
        total = self.runner.stats.total
        return jsonify(
            {
                "window_start": self.window_start,
                "window_end": window_end,
                "users": users,
                "workers": [replies[key] for key in sorted(replies)],
                "silent": silent,
                "missing": missing,
                "master": master,
                "total_requests": total.num_requests,
                "total_failures": total.num_failures,
                "total_rps": total.total_rps,
            }
        )


@events.init.add_listener
def install(environment, runner=None, web_ui=None, **_kwargs):
    if isinstance(runner, WorkerRunner):
        WorkerWindow(runner)
    elif isinstance(runner, MasterRunner) and web_ui is not None:
        MasterWindow(runner, web_ui)
