"""Faults caused for real, on both engines: a killed target, a target that never turns
healthy, and an interrupted run. After each: the finished steps are intact, the report
works, and nothing the lab started is left running (no process, no container)."""

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests
from conftest import DOCKER_ENV, ROOT, project_containers

pytestmark = pytest.mark.e2e


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def engine(request):
    if request.param == "docker":
        request.getfixturevalue("docker_engine")
    return request.param


def start_bench(engine: str, results: Path, *args: str) -> subprocess.Popen:
    """The runner in the background, its output in a file beside the results (read by `finish`)."""
    command = [sys.executable, "-m", "lab", "bench", "--engine", engine, "--profile", "smoke", "--scenarios", "json",
               "--warmup", "0", "--results", str(results), *args]  # fmt: skip
    env = DOCKER_ENV if engine == "docker" else None
    results.mkdir(parents=True, exist_ok=True)
    with open(results / f"bench-{time.monotonic_ns()}.out", "w") as output:
        bench = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, text=True)
    bench.output_path = Path(output.name)
    return bench


def finish(bench: subprocess.Popen, timeout: float = 600) -> str:
    """The runner's whole output, once it has exited."""
    bench.wait(timeout=timeout)
    return bench.output_path.read_text()


def wait_for(condition, what: str, bench: subprocess.Popen, timeout: float = 300):
    """Poll until condition() is truthy; fail at once, with the runner's output, if it ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if bench.poll() is not None:
            raise AssertionError(f"the runner ended (code {bench.returncode}) before {what}:\n{bench.output_path.read_text()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}:\n{bench.output_path.read_text()[-3000:]}")


def windows_started(seen: list[str]) -> int:
    """How many times the run's Locust master has gone from idle to running so far (the caller
    polls often; each step of these runs is one window of 1 s or more)."""
    try:
        state = requests.get("http://127.0.0.1:8089/stats/requests", timeout=2).json()["state"]
    except (requests.RequestException, ValueError, KeyError):
        return seen.count("running")
    if not seen or seen[-1] != state:
        seen.append(state)
    return seen.count("running")


def run_dir_of(results: Path) -> Path | None:
    runs = [p for p in results.iterdir() if (p / "manifest.json").exists()]
    return runs[0] if runs else None


def manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


@functools.cache
def docker_client():
    """One client for the whole module: some callers poll every 50 ms."""
    import docker

    return docker.from_env()


def service_container(name: str, not_before: set[str]):
    """The engine's container for a compose service, once it runs (none of those seen before)."""
    for container in project_containers(docker_client()):
        if container.labels.get("com.docker.compose.service") == name and container.id not in not_before and container.status == "running":
            return container
    return None


def local_server(bench: subprocess.Popen, port: int):
    """The server's process once start.sh has exec'd it (its command line names the port)."""
    for process in psutil.Process(bench.pid).children(recursive=True):
        try:
            if f"--port {port}" in " ".join(process.cmdline()):
                return process
        except psutil.NoSuchProcess:
            continue
    return None


def kill_target(engine: str, run_dir: Path, name: str) -> None:
    if engine == "docker":
        docker_client().containers.get(manifest(run_dir)["targets"][name]["container"]).kill()
    else:
        os.kill(manifest(run_dir)["targets"][name]["pid"], signal.SIGKILL)


def freeze_target_while_it_boots(engine: str, bench: subprocess.Popen, name: str, port: int) -> None:
    """Stop every process of the server as soon as it exists: it holds its port, never answers."""
    if engine == "docker":
        before = {c.id for c in project_containers(docker_client())}
        container = wait_for(lambda: service_container(name, before), f"{name}'s container", bench)
        # `docker top` lists host PIDs; from the host even the container's PID 1 can be stopped.
        pids = [int(row[0]) for row in wait_for(lambda: container.top(ps_args="-o pid")["Processes"], f"{name}'s processes", bench)]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
    else:
        wait_for(lambda: local_server(bench, port), f"{name}'s server process", bench).suspend()


def leftovers(run_dir: Path) -> list[str]:
    """What this run left running: a process in a local target's group or naming the run
    folder (Locust, `docker compose run`), or any container of the lab's compose project."""
    recorded = manifest(run_dir)
    groups = {t.get("pid") for t in [*recorded["targets"].values(), *recorded["baselines"].values()]} - {None}
    groups |= set(recorded["locust"].get("pids", []))  # the local master and workers, each its own group
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            in_group = os.getpgid(process.pid) in groups
        except ProcessLookupError:
            continue
        cmdline = " ".join(process.info["cmdline"] or [])
        if in_group or str(run_dir) in cmdline:
            found.append(f"{process.pid}: {cmdline}")
    if recorded["engine"] == "docker":
        found += [f"container {c.name} ({c.status})" for c in project_containers(docker_client())]
    return found


def report(run_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", "report", str(run_dir)], cwd=ROOT, capture_output=True, text=True, timeout=120)


def step(run_dir: Path, framework: str) -> dict:
    return json.loads((run_dir / "steps" / framework / "json" / "u0004-r1" / "step.json").read_text())


def test_target_killed_mid_step_fails_that_step_and_the_run_goes_on(tmp_path, engine):
    bench = start_bench(engine, tmp_path, "--frameworks", "fastapi,flask", "--users", "4", "--duration", "8")
    try:
        run_dir = wait_for(lambda: run_dir_of(tmp_path), "the run folder", bench)
        # The first window (no warm-up, no ceilings) is the fastapi step.
        seen: list[str] = []
        wait_for(lambda: windows_started(seen) == 1, "the fastapi step", bench)
        time.sleep(2)
        kill_target(engine, run_dir, "fastapi")
        output = finish(bench)
    finally:
        bench.kill()
    # Partial: a step failed, so the run says so in its status and exit code.
    assert bench.returncode == 3, output
    killed = step(run_dir, "fastapi")
    assert killed["status"] == "failed"
    assert "exited" in killed["reason"] and "during the step" in killed["reason"]
    assert step(run_dir, "flask")["status"] == "ok"
    assert manifest(run_dir)["status"] == "partial"
    assert "fastapi" in manifest(run_dir)["unavailable"]
    result = report(run_dir)
    assert result.returncode == 0, result.stderr
    tables = (run_dir / "report" / "tables.md").read_text()
    assert "Steps not measured" in tables and "during the step" in tables
    assert leftovers(run_dir) == []


def test_target_that_never_turns_healthy_is_reported_with_its_log_and_skipped(tmp_path, engine):
    bench = start_bench(engine, tmp_path, "--frameworks", "fastapi,flask", "--users", "4", "--duration", "2", "--health-timeout", "5")
    try:
        freeze_target_while_it_boots(engine, bench, "fastapi", 8001)
        output = finish(bench)
    finally:
        bench.kill()
    run_dir = run_dir_of(tmp_path)
    assert bench.returncode == 3, output
    assert manifest(run_dir)["status"] == "partial"
    assert "fastapi: /health did not answer" in output and "within 5 s" in output
    assert "last lines of" in output
    reason = manifest(run_dir)["unavailable"]["fastapi"]
    assert "/health did not answer" in reason and "within 5 s" in reason
    assert step(run_dir, "fastapi")["status"] == "skipped"
    assert step(run_dir, "flask")["status"] == "ok"
    assert leftovers(run_dir) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_keeps_finished_steps_and_stops_everything(tmp_path, engine, signum):
    bench = start_bench(engine, tmp_path, "--frameworks", "fastapi,flask,django", "--users", "4", "--duration", "3")
    try:
        run_dir = wait_for(lambda: run_dir_of(tmp_path), "the run folder", bench)
        # Interrupt while the second step runs: the first is finished, the third never starts.
        seen: list[str] = []
        wait_for(lambda: windows_started(seen) == 2, "the second step", bench)
        time.sleep(1)
        bench.send_signal(signum)
        output = finish(bench, timeout=300)
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
    if engine == "docker":
        return  # the folder rule below is the results tree's, not the engine's: checked once
    # A later run gets a folder of its own; the interrupted one stays as it was.
    before = (run_dir / "manifest.json").read_text()
    again = start_bench(engine, tmp_path, "--frameworks", "fastapi", "--users", "4", "--duration", "1")
    finish(again, timeout=180)
    assert again.returncode == 0
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2
    assert (run_dir / "manifest.json").read_text() == before
