"""Signals as they really arrive: `make` passes a Ctrl-C or SIGTERM on to the runner, so two
come at once, and a second one must not cut the cleanup short. A runner killed outright
(SIGKILL, no cleanup at all) must not leave its servers or Locust behind either."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from conftest import ROOT, processes_logging_under

pytestmark = pytest.mark.e2e


def wait_until(condition, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def answers(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code in (200, 503)
    except requests.RequestException:
        return False


def test_serve_survives_two_sigterms_and_stops_every_server(tmp_path):
    serve = subprocess.Popen([sys.executable, "-m", "lab", "serve", "--results", str(tmp_path)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        wait_until(lambda: all(answers(port) for port in (8001, 8002, 8003)))
        sigterm_twice(serve)
        serve.wait(timeout=60)
    finally:
        serve.kill()
    wait_until(lambda: not processes_logging_under(tmp_path), timeout=15)
    assert not any(answers(port) for port in (8001, 8002, 8003))


def test_a_killed_runner_leaves_no_server_and_no_locust(tmp_path):
    bench = subprocess.Popen(
        [sys.executable, "-m", "lab", "bench", "--engine", "local", "--profile", "smoke", "--frameworks", "fastapi,flask",
         "--duration", "30", "--warmup", "0", "--results", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until(a_step_runs)
        assert processes_logging_under(tmp_path), "the servers and Locust run"
        bench.send_signal(signal.SIGKILL)
        bench.wait(timeout=10)
    finally:
        bench.kill()
    # The kernel ends what the runner started (parent-death signal); Gunicorn's workers follow their master.
    wait_until(lambda: not processes_logging_under(tmp_path), timeout=20)
    assert not any(answers(port) for port in (8001, 8002))


def sigterm_twice(process: subprocess.Popen) -> None:
    """As make does: SIGTERM to the whole process group, so the runner gets it twice."""
    os.killpg(process.pid, signal.SIGTERM)
    time.sleep(0.05)
    os.killpg(process.pid, signal.SIGTERM)


def a_step_runs() -> bool:
    return answers_ui() and requests.get("http://127.0.0.1:8089/stats/requests", timeout=2).json()["state"] == "running"


def answers_ui() -> bool:
    try:
        return requests.get("http://127.0.0.1:8089/stats/requests", timeout=1).ok
    except requests.RequestException:
        return False


def test_bench_survives_two_sigterms_records_interrupted_and_stops_everything(tmp_path):
    bench = subprocess.Popen(
        [sys.executable, "-m", "lab", "bench", "--engine", "local", "--profile", "smoke", "--frameworks", "fastapi,flask",
         "--duration", "30", "--warmup", "0", "--results", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(a_step_runs)
        sigterm_twice(bench)  # mid-step
        bench.wait(timeout=90)
    finally:
        bench.kill()
    assert bench.returncode == 130
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["exit_code"] == 130
    wait_until(lambda: not processes_logging_under(tmp_path), timeout=15)
    assert not any(answers(port) for port in (8001, 8002)) and not answers_ui()
