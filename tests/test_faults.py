"""Faults caused for real on the local engine: a killed target, a target that never turns
healthy, and an interrupted run. After each: the finished steps are intact, the report
works, and nothing the lab started is left running."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import ROOT

pytestmark = pytest.mark.e2e


def start_bench(results: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "lab", "bench", "--engine", "local", "--profile", "smoke", "--scenarios", "json",
               "--warmup", "0", "--results", str(results), *args]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(condition, timeout: float = 120, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def run_dir_of(results: Path) -> Path | None:
    runs = [p for p in results.iterdir() if (p / "manifest.json").exists()]
    return runs[0] if runs else None


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def leftovers(run_dir: Path) -> list[str]:
    """Processes of this run still alive: in a target's process group, or Locust writing into the run."""
    groups = {t["pid"] for t in [*manifest(run_dir)["targets"].values(), *manifest(run_dir)["baselines"].values()]}
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            in_group = os.getpgid(process.pid) in groups
        except ProcessLookupError:
            continue
        cmdline = " ".join(process.info["cmdline"] or [])
        if in_group or ("locust" in cmdline and str(run_dir) in cmdline):
            found.append(f"{process.pid}: {cmdline}")
    return found


def report(run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", "report", str(run_dir)], cwd=ROOT, capture_output=True, text=True, timeout=120)


def step(run_dir: Path, framework: str) -> dict:
    return json.loads((run_dir / "steps" / framework / "json" / "u0004-r1" / "step.json").read_text())


def test_target_killed_mid_step_fails_that_step_and_the_run_goes_on(tmp_path):
    bench = start_bench(tmp_path, "--frameworks", "fastapi,flask", "--users", "4", "--duration", "6")
    try:
        run_dir = wait_for(lambda: run_dir_of(tmp_path), what="the run folder")
        # The fastapi step has started once Locust writes its log into the step folder.
        wait_for(lambda: (run_dir / "steps/fastapi/json/u0004-r1/locust.log").exists(), what="the fastapi step")
        time.sleep(2)
        os.kill(manifest(run_dir)["targets"]["fastapi"]["pid"], signal.SIGKILL)
        output, _ = bench.communicate(timeout=180)
    finally:
        bench.kill()
    assert bench.returncode == 0, output
    killed = step(run_dir, "fastapi")
    assert killed["status"] == "failed"
    assert "server exited" in killed["reason"] and "during the step" in killed["reason"]
    assert step(run_dir, "flask")["status"] == "ok"
    assert manifest(run_dir)["status"] == "complete"
    assert "fastapi" in manifest(run_dir)["unavailable"]
    result = report(run_dir)
    assert result.returncode == 0, result.stderr
    tables = (run_dir / "report" / "tables.md").read_text()
    assert "Steps not measured" in tables and "server exited" in tables
    assert leftovers(run_dir) == []


def test_target_that_never_turns_healthy_is_reported_with_its_log_and_skipped(tmp_path):
    bench = start_bench(tmp_path, "--frameworks", "fastapi,flask", "--users", "4", "--duration", "2", "--health-timeout", "5")
    try:
        # Freeze fastapi's server while it boots: it exists, holds its port, never answers.
        def fastapi_server():
            for process in psutil.Process(bench.pid).children(recursive=True):
                try:
                    cmdline = " ".join(process.cmdline())
                except psutil.NoSuchProcess:
                    continue
                if "uvicorn app:app" in cmdline and "--port 8001" in cmdline:
                    return process
            return None

        wait_for(fastapi_server, timeout=60, what="fastapi's server process").suspend()
        output, _ = bench.communicate(timeout=180)
    finally:
        bench.kill()
    run_dir = run_dir_of(tmp_path)
    assert bench.returncode == 0, output
    assert "fastapi: /health did not answer" in output and "within 5 s" in output
    assert "last lines of" in output
    reason = manifest(run_dir)["unavailable"]["fastapi"]
    assert "/health did not answer" in reason and "within 5 s" in reason
    assert step(run_dir, "fastapi")["status"] == "skipped"
    assert step(run_dir, "flask")["status"] == "ok"
    assert leftovers(run_dir) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_keeps_finished_steps_and_stops_everything(tmp_path, signum):
    bench = start_bench(tmp_path, "--frameworks", "fastapi,flask,django", "--users", "4", "--duration", "3")
    try:
        run_dir = wait_for(lambda: run_dir_of(tmp_path), what="the run folder")
        # Interrupt while the second step runs: the first is finished, the third never starts.
        wait_for(lambda: (run_dir / "steps/flask/json/u0004-r1/locust.log").exists(), what="the second step")
        time.sleep(1)
        bench.send_signal(signum)
        output, _ = bench.communicate(timeout=120)
    finally:
        bench.kill()
    assert bench.returncode == 130, output
    assert "interrupted" in output
    assert manifest(run_dir)["status"] == "interrupted"
    assert step(run_dir, "fastapi")["status"] == "ok"
    assert (run_dir / "steps/fastapi/json/u0004-r1/locust_stats.csv").exists()
    assert not (run_dir / "steps/django").exists()
    result = report(run_dir)
    assert result.returncode == 0, result.stderr
    tables = (run_dir / "report" / "tables.md").read_text()
    assert "Steps missing" in tables and "django json u=4 r1" in tables
    assert leftovers(run_dir) == []
    # A later run gets a folder of its own; the interrupted one stays as it was.
    before = (run_dir / "manifest.json").read_text()
    again = start_bench(tmp_path, "--frameworks", "fastapi", "--users", "4", "--duration", "1")
    again.communicate(timeout=180)
    assert again.returncode == 0
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2
    assert (run_dir / "manifest.json").read_text() == before
