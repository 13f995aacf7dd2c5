"""The run's one Locust master and its workers, with faults caused for real (local engine):
a port already taken, a worker that never connects, a master that dies while it starts, a
worker lost in the middle of a step. Each gives one clear line, nothing left running, and a
run folder that says why."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests
from conftest import ROOT, processes_logging_under

pytestmark = pytest.mark.e2e


def bench(results: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    command = [sys.executable, "-m", "lab", "bench", "--engine", "local", "--profile", "smoke", "--frameworks", "fastapi",
               "--warmup", "0", "--results", str(results), *args]  # fmt: skip
    results.mkdir(parents=True, exist_ok=True)
    with open(results / "bench.out", "w") as output:
        return subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=output, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, results: Path, timeout: float = 300) -> str:
    try:
        process.wait(timeout=timeout)
    finally:
        process.kill()
    return (results / "bench.out").read_text()


def the_run(results: Path) -> tuple[Path, dict]:
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir, json.loads((run_dir / "manifest.json").read_text())


def children_named(parent: int, word: str) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(parent).children(recursive=True):
        try:
            if word in child.cmdline():
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def wait_for(condition, what: str, process: subprocess.Popen, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        assert process.poll() is None, f"the runner ended before {what}"
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def assert_refused(output: str, manifest: dict, *words: str) -> None:
    assert "Traceback" not in output
    line = next(line for line in output.splitlines() if line.startswith("error:"))
    for word in words:
        assert word in " ".join(output.split()), output[-2000:]
    assert manifest["status"] == "failed" and manifest["exit_code"] == 2
    assert all(word in manifest["reason"] for word in words[:1]), manifest["reason"]
    assert line


def test_a_taken_web_ui_port_is_named_and_nothing_starts(tmp_path):
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = bench(tmp_path, env={"LOCUST_WEB_PORT": str(port)})
        output = finish(process, tmp_path)
    assert process.returncode == 2, output
    run_dir, manifest = the_run(tmp_path)
    assert_refused(output, manifest, f"Locust's web UI cannot listen on 127.0.0.1:{port}", "LOCUST_WEB_PORT")
    assert processes_logging_under(tmp_path) == []
    assert not list(run_dir.glob("steps/*/*/*/step.json"))


def test_a_worker_that_never_connects_is_named_and_nothing_is_left(tmp_path):
    # One more worker is expected (from another host) and never comes.
    process = bench(tmp_path, env={"LOCUST_EXTRA_WORKERS": "1", "LOCUST_CONNECT_TIMEOUT": "5"})
    output = finish(process, tmp_path)
    assert process.returncode == 2, output
    _run_dir, manifest = the_run(tmp_path)
    assert_refused(output, manifest, "has 1 of the 2 workers it needs ready after 5 s")
    assert processes_logging_under(tmp_path) == []


def test_a_master_that_dies_while_starting_is_named_with_its_log(tmp_path):
    process = bench(tmp_path)
    master = wait_for(lambda: children_named(process.pid, "--master"), "the Locust master", process)
    master[0].send_signal(signal.SIGKILL)
    output = finish(process, tmp_path)
    assert process.returncode == 2, output
    _run_dir, manifest = the_run(tmp_path)
    assert_refused(output, manifest, "the Locust master exited (code -9)", "master.log")
    assert processes_logging_under(tmp_path) == []


def test_a_worker_lost_mid_step_fails_that_step_and_the_next_step_has_its_workers_again(tmp_path):
    process = bench(tmp_path, "--frameworks", "fastapi,flask", "--users", "4", "--duration", "8", env={"LOCUST_WORKERS": "2"})

    def measuring() -> bool:
        try:
            return requests.get("http://127.0.0.1:8089/stats/requests", timeout=2).json()["state"] == "running"
        except (requests.RequestException, ValueError, KeyError):
            return False

    wait_for(measuring, "the first step", process)
    time.sleep(2)
    workers = children_named(process.pid, "--worker")
    assert len(workers) == 2
    workers[0].send_signal(signal.SIGKILL)
    output = finish(process, tmp_path)
    assert process.returncode == 3, output  # partial
    run_dir, manifest = the_run(tmp_path)
    lost = json.loads((run_dir / "steps/fastapi/json/u0004-r1/step.json").read_text())
    assert lost["status"] == "failed" and "Locust worker" in lost["reason"] and "lost" in lost["reason"], lost
    after = json.loads((run_dir / "steps/flask/json/u0004-r1/step.json").read_text())
    assert after["status"] == "ok" and len(after["locust"]["workers"]) == 2, after
    assert manifest["status"] == "partial"
    assert processes_logging_under(tmp_path) == []
