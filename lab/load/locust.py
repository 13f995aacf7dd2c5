"""The runner's side of a long-lived Locust master: one measured window per step.

Both engines start a master and its workers once per run (lab/engines/base.py's Generator); this
module drives that master over its web API, as the web UI does: POST /swarm to start the
step's users, GET /stats/requests to watch them, and the CSV downloads for the numbers. Two
routes that the lab adds to the master (locustfiles/_control.py) make the window exact:
/lab/window/start (workers flush, stats reset once the ramp is over) and /lab/window/stop
(users stopped, workers flush their last numbers). The CSVs kept are the ones the web UI's
download buttons give, for exactly that window.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from ..errors import LabError

# Users start within a second: spawned at 4x the user count per second, then one more second
# so that every connection is open and every user is past its first request before the reset.
SPAWN_SPEEDUP = 4
SETTLE_SECONDS = 1.0
# The CSVs a step keeps, from the master's download routes.
CSV_ROUTES = {"stats": "/stats/requests/csv", "failures": "/stats/failures/csv", "exceptions": "/exceptions/csv"}
READY_STATES = ("ready", "stopped")


@dataclass
class Window:
    """One measured window: Locust's CSVs for it, and what the master and workers said."""

    csv: dict[str, str]
    start: dict  # /lab/window/start's reply
    stop: dict  # /lab/window/stop's reply: window times, totals, each worker's requests and CPU
    stats: dict  # /stats/requests once stopped: what the web UI shows for the window
    problems: list[str] = field(default_factory=list)  # a lost worker, a silent worker: the step failed
    phases: dict[str, float] = field(default_factory=dict)  # wall seconds of each part of the step
    # An open-model window (options with a rate): the master's merged result, GET /lab/latency
    # (locustfiles/_open_model.py): rate achieved, send lag, percentiles and the encoded histogram.
    latency: dict | None = None


class Master:
    """HTTP client of one Locust master's web UI and API."""

    def __init__(self, web_url: str, timeout: float = 15):
        self.web_url = web_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    def get(self, path: str) -> requests.Response:
        try:
            response = self.http.get(self.web_url + path, timeout=self.timeout)
            response.raise_for_status()
        except requests.RequestException as problem:
            raise LabError(f"the Locust master at {self.web_url} did not answer GET {path}: {problem}") from None
        return response

    def post(self, path: str, data: dict | None = None) -> dict:
        try:
            response = self.http.post(self.web_url + path, data=data or {}, timeout=self.timeout + 60)
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as problem:
            raise LabError(f"the Locust master at {self.web_url} did not answer POST {path}: {problem}") from None

    def stats(self) -> dict:
        try:
            return self.get("/stats/requests").json()
        except ValueError as problem:
            raise LabError(f"the Locust master at {self.web_url} sent stats that are not JSON: {problem}") from None

    def wait_ready(self, workers: int, timeout: float, alive: Callable[[], str | None] = lambda: None) -> list[str]:
        """Wait until the master is idle with `workers` workers ready; their ids.

        `alive` says why the master cannot come up any more (it exited), or None.
        """
        deadline = time.monotonic() + timeout
        stats: dict = {}
        while time.monotonic() < deadline:
            problem = alive()
            if problem:
                raise LabError(problem)
            try:
                stats = self.stats()
            except LabError:  # not listening yet
                time.sleep(0.2)
                continue
            ready = [w["id"] for w in stats.get("workers", []) if w.get("state") == "ready"]
            if stats.get("state") in READY_STATES and len(ready) >= workers:
                return sorted(ready)
            time.sleep(0.2)
        if not stats:
            raise LabError(f"the Locust master's web UI at {self.web_url} did not answer within {timeout:.0f} s")
        seen = ", ".join(f"{w.get('id')} ({w.get('state')})" for w in stats.get("workers", [])) or "none"
        raise LabError(
            f"the Locust master at {self.web_url} has {len(stats.get('workers', []))} of the {workers} workers it needs "
            f"ready after {timeout:.0f} s (state {stats.get('state')}; workers: {seen})"
        )

    def measure(self, user_class: str, host: str, users: int, duration: float, workers: int, warmup: float = 0,
                tick: Callable[[dict], None] = lambda stats: None, options: dict | None = None) -> Window:  # fmt: skip
        """Start `users` of `user_class` against `host`, run `warmup` seconds (not measured), measure
        `duration` seconds, stop. `options`: the user class's custom parameters, as the web UI sends
        them (the open model's rate, arrivals, open_path)."""
        began = time.monotonic()
        phases: dict[str, float] = {}

        def lap(name: str) -> None:
            nonlocal began
            phases[name] = round(time.monotonic() - began, 3)
            began = time.monotonic()

        self.wait_ready(workers, timeout=30)
        lap("ready")
        # target "": the host below, not a target picked earlier in the web UI.
        form = {"user_count": users, "spawn_rate": users * SPAWN_SPEEDUP, "host": host, "user_classes": user_class, "target": "", **(options or {})}
        reply = self.post("/swarm", form)
        if not reply.get("success"):
            raise LabError(f"the Locust master refused to start {user_class} x{users} against {host}: {reply.get('message')}")
        problems: dict[str, str] = {}  # worker -> the first thing seen wrong with it
        try:
            self.wait_spawned(users)
            lap("spawn")
            time.sleep(SETTLE_SECONDS + warmup)
            lap("settle_and_warmup")
            start = self.post("/lab/window/start")
            lap("window_start")
            for worker in start.get("silent", []):
                problems.setdefault(worker, "did not answer at the start of the window")
            if not problems:
                problems.update(self.watch(duration, set(start.get("workers", [])), tick))
            lap("window")
        finally:
            stop = self.post("/lab/window/stop")
        lap("window_stop")
        started_with = set(start.get("workers", []))
        for worker in sorted(started_with & set(stop.get("missing", []))):
            problems.setdefault(worker, "was lost during the step (no heartbeat)")
        for worker in sorted(started_with - {w["id"] for w in stop.get("workers", [])}):
            problems.setdefault(worker, "was lost during the step (it did not answer at the end)")
        csv = {name: self.get(route).text for name, route in CSV_ROUTES.items()}
        stats = self.stats()
        latency = self.get("/lab/latency").json() if options and "rate" in options else None
        lap("downloads")
        problems_said = [f"Locust worker {w} {why}" for w, why in problems.items()]
        return Window(csv=csv, start=start, stop=stop, stats=stats, problems=problems_said, phases=phases, latency=latency)

    def wait_spawned(self, users: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        state: dict = {}
        while time.monotonic() < deadline:
            try:
                state = self.get("/lab/state").json()
            except ValueError as problem:
                raise LabError(f"the Locust master at {self.web_url} sent a state that is not JSON: {problem}") from None
            if state.get("state") == "running" and state.get("user_count") == users:
                return
            time.sleep(0.05)
        raise LabError(f"Locust did not start all {users} users within {timeout:.0f} s (state {state.get('state')}, {state.get('user_count')} users)")

    def watch(self, duration: float, workers: set[str], tick: Callable[[dict], None]) -> dict[str, str]:
        """Wait out the window, polling once a second; a worker that goes missing ends it early."""
        end = time.monotonic() + duration
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(1.0, left))
            stats = self.stats()
            tick(stats)
            states = {w["id"]: w.get("state") for w in stats.get("workers", [])}
            lost = {worker: f"was lost during the step ({states.get(worker) or 'gone'})" for worker in workers if states.get(worker) in (None, "missing")}
            if lost:
                return lost
        return {}
