"""The local engine: services and Locust as processes on loopback, pinned to cores.

Each service runs from its own virtualenv (.venv/services/<name>, built from the
same locked requirements as its container) with its one start command,
services/<name>/start.sh.
"""

import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import psutil
import requests

from . import loadgen, results
from .catalog import ROOT, Framework, LabError, Scenario
from .database import redact, server_url

VENVS = ROOT / ".venv" / "services"


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop_process_group(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM the whole group (server master and workers), then SIGKILL what is left."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)
    except ProcessLookupError:
        pass


def wait_until_healthy(target, timeout: float) -> None:
    """Poll /health until the server answers, for every engine's targets.

    503 counts as up: the server runs but its database does not; the runner asks /health why.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not target.alive():
            raise LabError(f"{target.name}: {target.exit_reason()} before it was healthy; last lines of {target.log_name}:\n{target.log_tail()}")
        try:
            if requests.get(target.url + "/health", timeout=2).status_code in (200, 503):
                target.settle()
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise LabError(
        f"{target.name}: /health did not answer (200, or 503 for a database that is down) within {timeout:.0f} s; "
        f"last lines of {target.log_name}:\n{target.log_tail()}"
    )


def wait_until_steady(count_processes, quiet: float = 1.0, limit: float = 15) -> None:
    """Wait until a server's process count has held still for `quiet` seconds: its first
    worker answers /health before the others exist, and a booting worker is not measured."""
    count, since, deadline = -1, time.monotonic(), time.monotonic() + limit
    while time.monotonic() < deadline:
        now = count_processes()
        if now != count:
            count, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


class LocalTarget:
    """One framework's server, started with its start command on the given cores.

    The runner drives every engine's targets through the same methods:
    start, wait_healthy, alive, describe, sampler, log_tail, stop (and, for
    wait_until_healthy, settle, exit_reason, log_name); `url` is where the host
    reaches it (conformance), `load_url` where Locust does.
    """

    def __init__(self, framework: Framework, cores: list[int], log_path: Path, extra_env: dict | None = None):
        self.framework = framework
        self.cores = cores
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None
        self.url = framework.local_url
        self.load_url = framework.local_url

    @property
    def name(self) -> str:
        return self.framework.name

    def env(self) -> dict:
        venv = VENVS / self.framework.name
        if not (venv / "bin" / "python").exists():
            raise LabError(f"{self.name}: no virtualenv at {venv}; run `make setup` first")
        env = dict(os.environ)
        env.update(
            PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            VIRTUAL_ENV=str(venv),
            HOST="127.0.0.1",
            PORT=str(self.framework.port),
            CPUS=str(len(self.cores)),
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        if port_in_use(self.framework.port):
            raise LabError(
                f"{self.name}: port {self.framework.port} on 127.0.0.1 is already in use; "
                "stop whatever listens there (another `make serve`?) so the lab measures its own server"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cores = set(self.cores)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.framework.start_command)],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so stop() reaches every worker
                preexec_fn=lambda: os.sched_setaffinity(0, cores),
            )

    def wait_healthy(self, timeout: float = 60) -> None:
        wait_until_healthy(self, timeout)

    def settle(self) -> None:
        root = psutil.Process(self.process.pid)
        wait_until_steady(lambda: len(root.children(recursive=True)))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def sampler(self) -> "TreeSampler":
        return TreeSampler(self.process.pid)

    @property
    def log_name(self) -> str:
        return str(self.log_path)

    def log_tail(self, lines: int = 15) -> str:
        return log_tail(self.log_path, lines)

    def exit_reason(self) -> str:
        return f"server exited (code {self.process.returncode if self.process else None})"

    def describe(self) -> dict:
        """What ran, for the manifest: the exact command lines, worker count, cores."""
        root = psutil.Process(self.process.pid)
        # start.sh execs the server, so the group leader is the server's master process.
        children = root.children(recursive=True)
        return {
            "engine": "local",
            "pid": self.process.pid,
            "url": self.url,
            "python": results.python_version(VENVS / self.name / "bin" / "python"),
            "packages": results.pip_freeze(VENVS / self.name / "bin" / "python"),
            "start_command": str(self.framework.start_command.relative_to(ROOT)),
            "command_line": root.cmdline(),
            "processes": 1 + len(children),
            # Uvicorn with one worker serves from its only process; Gunicorn's master only supervises.
            "workers": len(children) or 1,
            "worker_command_lines": sorted({" ".join(child.cmdline()) for child in children}),
            "cores": self.cores,
            "env": self.recorded_env(),
        }

    def recorded_env(self) -> dict:
        """The settings the runner gave the server (the database URL without its password)."""
        env = self.env()
        recorded = {key: env[key] for key in ("HOST", "PORT", "CPUS", "DATABASE_URL", "DB_POOL_SIZE") if key in env}
        if "DATABASE_URL" in recorded:
            recorded["DATABASE_URL"] = redact(recorded["DATABASE_URL"])
        return recorded

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process)


class TreeSampler:
    """Samples a process tree's cumulative CPU time and memory in a thread.

    The samples are (epoch seconds, CPU seconds, RSS bytes); usage() turns the
    ones inside Locust's measured window into CPU seconds, mean CPU % and peak RSS.
    """

    def __init__(self, pid: int, interval: float = 0.25):
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float, int]] = []
        self._cpu_by_pid: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        rss = 0
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    # Kept per pid, so a worker that exits still counts what it used.
                    self._cpu_by_pid[process.pid] = times.user + times.system
                    rss += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        self.samples.append((time.time(), sum(self._cpu_by_pid.values()), rss))

    def _run(self) -> None:
        self._sample()
        while not self._stop.wait(self.interval):
            self._sample()

    def start(self) -> "TreeSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def usage(self, start: float | None = None, end: float | None = None) -> dict:
        inside = [s for s in self.samples if (start is None or s[0] >= start) and (end is None or s[0] <= end)]
        if len(inside) < 2:
            inside = self.samples
        if len(inside) < 2:
            return {"cpu_seconds": None, "cpu_percent": None, "peak_rss_mb": None, "samples": len(inside)}
        (t0, cpu0, _), (t1, cpu1, _) = inside[0], inside[-1]
        return {
            "cpu_seconds": round(cpu1 - cpu0, 3),
            "cpu_percent": round(100 * (cpu1 - cpu0) / max(t1 - t0, 1e-9), 1),
            "peak_rss_mb": round(max(s[2] for s in inside) / 2**20, 1),
            "samples": len(inside),
        }


class LocalEngine:
    """Targets as processes on loopback; Locust as one process on its own cores."""

    name = "local"

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir

    def target(self, framework: Framework, cores: list[int], env: dict | None = None) -> LocalTarget:
        return LocalTarget(framework, cores, self.run_dir / "targets" / f"{framework.name}.log", extra_env=env)

    def database_server(self) -> str:
        """The PostgreSQL server the lab works on: DATABASE_URL's (or the local default)."""
        return server_url()

    def describe(self) -> dict:
        return {"name": self.name}

    def locust_setup(self, cores: list[int] | None = None) -> dict:
        return {"processes": 1, "mode": "single process (one core)"}

    def run_locust(self, scenario: Scenario, target, users: int, duration: int, out_dir: Path, cores: list[int], on_start=None):
        return loadgen.run_locust(scenario, target.load_url, users, duration, out_dir, cores, on_start)

    def close(self) -> None:
        pass
