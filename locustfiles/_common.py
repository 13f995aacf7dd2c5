"""What every scenario shares: the base user, response checks and the final-stats fix.

Files starting with "_" are not scenarios: Locust skips them when it loads a folder.
A scenario file sets two module constants the runner reads without importing it:
DATABASE (needs the database) and RESETS_DATABASE (writes to it, so the runner
restores the seed data before each step).
"""

import atexit
import csv
import json
import os
import tomllib
from pathlib import Path

from locust import FastHttpUser, constant, events
from locust.runners import WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

import _web_ui
from _control import cpu_now, usage  # also installs the runner's exact measurement windows


def local_targets() -> str:
    """name=url of every framework and variant on loopback, from services/*/service.toml (the
    checkout beside this folder: `make ui`; the Locust image has no services/, compose says)."""
    found = []
    for config in sorted(Path(__file__).resolve().parent.parent.glob("services/*/service.toml")):
        service = tomllib.loads(config.read_text())
        if service.get("kind", "framework") in ("framework", "variant"):
            found.append((service["port"], f"{service['name']}=http://127.0.0.1:{service['port']}"))
    return ",".join(target for _, target in sorted(found))


# Where each framework listens, by engine: the runner and compose set LAB_TARGETS.
TARGETS = dict(item.split("=", 1) for item in (os.environ.get("LAB_TARGETS") or local_targets()).split(",") if "=" in item)


class LabUser(FastHttpUser):
    """No think time: each user sends its next request as soon as the last one is answered."""

    abstract = True
    wait_time = constant(0)

    def check(self, response, expected_status=200, content_type="application/json", body=None, json_body=None):
        """Mark the response failed unless status, type and content are exactly as the contract says."""
        if response.status_code != expected_status:
            return response.failure(f"status {response.status_code}, expected {expected_status}")
        got_type = response.headers.get("Content-Type", "")
        if not got_type.startswith(content_type):
            return response.failure(f"Content-Type {got_type!r}, expected {content_type}")
        if callable(body):
            problem = body(response.text)
            if problem:
                return response.failure(problem)
        elif body is not None and response.text != body:
            return response.failure(f"body {response.text[:100]!r}, expected {body!r}")
        if json_body is not None:
            try:
                got = response.json()
            except ValueError:
                return response.failure(f"body is not JSON: {response.text[:100]!r}")
            if callable(json_body):
                problem = json_body(got)
                if problem:
                    return response.failure(problem)
            elif got != json_body:
                return response.failure(f"body {got!r}, expected {json_body!r}")
        return response.success()

    def get_json(self, path, expected, name=None):
        with self.client.get(path, name=name, catch_response=True) as response:
            self.check(response, json_body=expected)


@events.init_command_line_parser.add_listener
def add_target_option(parser):
    parser.add_argument(
        "--target",
        choices=[""] + list(TARGETS),
        default="",
        include_in_web_ui=True,
        # Short: the web UI puts it in the field's label.
        help=", ".join(TARGETS),
    )


@events.init.add_listener
def guide_the_web_ui(environment, **_kwargs):
    _web_ui.install(environment, TARGETS)


@events.test_start.add_listener
def pick_target(environment, **_kwargs):
    target = getattr(environment.parsed_options, "target", "")
    if target:
        environment.host = TARGETS[target]


# For a headless run by hand (`locust --headless --csv ...`): this process's CPU use over the
# measured window (spawning complete .. test stop), written with the final stats below. CPU %
# alone misses a generator starved of CPU, so "demand" adds the time spent waiting for a core.
# (The runner's own windows are locustfiles/_control.py's.)
_window: dict[str, dict] = {}


@events.spawning_complete.add_listener
def mark_window_start(**_kwargs):
    _window["start"] = cpu_now()


@events.test_stop.add_listener
def mark_window_end(**_kwargs):
    _window["end"] = cpu_now()


def window_usage() -> dict:
    if "start" not in _window:
        return {"locust_cpu_percent": None, "locust_demand_percent": None}
    used = usage(_window["start"], _window.get("end") or cpu_now())
    return {"locust_cpu_percent": used["cpu_percent"], "locust_demand_percent": used["demand_percent"]}


@events.init.add_listener
def write_final_stats_at_exit(environment, **_kwargs):
    """Rewrite the CSVs from the final in-memory stats after Locust has closed them.

    Locust writes its CSVs every second and does not write them again at shutdown,
    so the files can miss the last second of the run. This runs after Locust's
    own shutdown (atexit), so the kept numbers equal Locust's final summary.
    """
    options = environment.parsed_options
    prefix = getattr(options, "csv_prefix", None)
    if not prefix or isinstance(environment.runner, WorkerRunner):
        return

    def write():
        writer = StatsCSV(environment, PERCENTILES_TO_REPORT)
        for suffix, method in (("stats", writer.requests_csv), ("failures", writer.failures_csv), ("exceptions", writer.exceptions_csv)):
            with open(f"{prefix}_{suffix}.csv", "w", newline="") as handle:
                method(csv.writer(handle))
        runner = environment.runner
        with open(f"{prefix}_final.json", "w") as handle:
            json.dump(
                {
                    "host": environment.host,
                    **window_usage(),
                    "window_start": _window.get("start", {}).get("time"),
                    "window_end": _window.get("end", {}).get("time"),
                    "cpu_warning_emitted": bool(runner and runner.cpu_warning_emitted),
                    "worker_cpu_warning_emitted": bool(getattr(runner, "worker_cpu_warning_emitted", False)),
                    "worker_count": getattr(runner, "worker_count", None),
                    "total_requests": environment.stats.total.num_requests,
                    "total_failures": environment.stats.total.num_failures,
                    "total_rps": environment.stats.total.total_rps,
                },
                handle,
                indent=2,
            )

    atexit.register(write)
