"""The local engine: services and Locust as processes on this machine, pinned to cores.

Each service runs from its own virtualenv (.venv/services/<name>, built from the same locked
requirements as its container) with its one start command, services/<name>/start.sh.
Locust runs as one master (web UI on LOCUST_WEB_PORT) and one worker per Locust core, all
from the lab's virtualenv, for the whole run.
"""

import os
import subprocess
import sys
from pathlib import Path

import psutil

from .. import facts
from ..catalog import LOCUSTFILES, ROOT, Service
from ..contract.database import server_url
from ..errors import LabError
from ..load.locust import Master
from ..settings import GeneratorSettings
from . import cgroups
from .base import Engine, Generator, Target, log_tail, recorded_env, wait_until_steady, worker_count
from .samplers import CgroupSampler, ProcessesSampler, Sampler, TreeSampler
from .server_cgroup import Cgroup
from .processes import port_problem, spawn, stop_process_group

VENVS = ROOT / ".venv" / "services"


class LocalTarget(Target):
    """One framework's server, started with its start command on the given cores, its worker count
    by those whole cores, in a cgroup of its own (exact CPU accounting) where one can be made; held
    to a budget of `cpus` cores below them by a CPU quota, set and lifted while it runs (lab/engines/cgroups.py)."""

    def __init__(self, framework: Service, cores: list[int], log_path: Path, extra_env: dict | None = None, host: str = "127.0.0.1",
                 cpus: float | None = None):  # fmt: skip
        self.framework = framework
        self.cores = cores
        self.cpus = float(cpus or len(cores))
        route = cgroups.route_for(self.cpus, cores)
        self.cgroup = Cgroup(route, framework.name, self.cpus if self.cpus < len(cores) else None) if route else None
        self.log_path = log_path
        self.extra_env = extra_env or {}
        self.host = host
        self.process: subprocess.Popen | None = None
        self.url = f"http://{host}:{framework.port}"
        self.load_url = self.url

    @property
    def log_name(self) -> str:
        return str(self.log_path)

    def env(self) -> dict:
        venv = VENVS / self.framework.name
        if not (venv / "bin" / "python").exists():
            raise LabError(f"{self.name}: no virtualenv at {venv}; run `make setup` first")
        env = dict(os.environ)
        env.update(
            PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            VIRTUAL_ENV=str(venv),
            HOST=self.host,
            PORT=str(self.framework.port),
            # The worker formula is computed on the whole cores; a budget below them is a quota.
            CPUS=str(len(self.cores)),
            PYTHONDONTWRITEBYTECODE="1",
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        problem = port_problem(self.host, self.framework.port)
        if problem:
            raise LabError(
                f"{self.name}: cannot listen on {self.host}:{self.framework.port} ({problem}); "
                "stop whatever listens there (another `make serve`?) so the lab measures its own server"
            )
        command, enter = [str(self.framework.start_command)], None
        if self.cgroup:
            self.cgroup.create()
            command, enter = self.cgroup.command(command), self.cgroup.enter
        try:
            self.process = spawn(command, self.log_path, set(self.cores), self.env(), enter)
        except subprocess.SubprocessError as problem:  # pinning or joining the cgroup failed in the child
            if self.cgroup:
                self.cgroup.remove()
            raise LabError(f"{self.name}: could not start on cores {self.cores} in {self.cgroup.folders if self.cgroup else 'no cgroup'} ({problem})") from None
        except BaseException:
            if self.cgroup:
                self.cgroup.remove()
            raise
        if self.cgroup:
            self.cgroup.pid = self.process.pid

    def limit(self, cpus: float | None) -> dict:
        cpus = float(cpus or len(self.cores))
        if self.cgroup is None:
            if cpus < len(self.cores):
                raise LabError(f"{self.name}: no cgroup to hold it to {cpus:g} cores ({cgroups.no_route_reason()})")
        else:
            self.cgroup.limit(cpus if cpus < len(self.cores) else None)
        self.cpus = cpus
        return self.cpu_limit()

    def cpu_limit(self) -> dict:
        return self.cgroup.describe() if self.cgroup else {**cgroups.NO_QUOTA, "accounting": "process tree (no cgroup here)"}

    def cpu_seconds(self) -> float | None:
        return self.cgroup.usage() if self.cgroup else None

    def pid(self) -> int | None:
        return self.process.pid if self.alive() else None

    def settle(self) -> None:
        root = psutil.Process(self.process.pid)
        wait_until_steady(lambda: len(root.children(recursive=True)))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def sampler(self) -> Sampler:
        return CgroupSampler(self.process.pid, self.cgroup) if self.cgroup else TreeSampler(self.process.pid)

    def log_tail(self, lines: int = 15) -> str:
        return log_tail(self.log_path, lines)

    def exit_reason(self) -> str:
        return f"server exited (code {self.process.returncode if self.process else None})"

    def describe(self) -> dict:
        root = psutil.Process(self.process.pid)
        # start.sh execs the server, so the group leader is the server's master process.
        children = root.children(recursive=True)
        child_lines = [" ".join(child.cmdline()) for child in children]
        return {
            "engine": "local",
            "pid": self.process.pid,
            "url": self.url,
            "python": facts.python_version(VENVS / self.name / "bin" / "python"),
            "packages": facts.pip_freeze(VENVS / self.name / "bin" / "python"),
            "start_command": str(self.framework.start_command.relative_to(ROOT)),
            "command_line": root.cmdline(),
            "processes": 1 + len(children),
            "workers": worker_count(child_lines),
            "worker_command_lines": sorted(set(child_lines)),
            "cores": self.cores,
            "cpus": self.cpus,
            "cpu_limit": self.cpu_limit(),
            "env": recorded_env(self.env()),
        }

    def stop(self) -> None:
        try:
            if self.process is not None:
                stop_process_group(self.process)
        finally:
            if self.cgroup:
                self.cgroup.remove()


class LocalGenerator(Generator):
    """A Locust master and one worker per Locust core, as processes of the lab's virtualenv."""

    def __init__(self, run_dir: Path, cores: list[int], settings: GeneratorSettings):
        self.cores = cores
        self.settings = settings
        self.workers = settings.workers or len(cores)
        self.logs = run_dir / "locust"
        self.web_url = f"http://{settings.web_host}:{settings.web_port}"
        self.master_process: subprocess.Popen | None = None
        self.worker_processes: list[subprocess.Popen] = []

    def locust(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILES), "--loglevel", "WARNING", *args]

    def master_command(self) -> list[str]:
        s = self.settings
        return self.locust("--master", "--class-picker", "--web-host", s.web_host, "--web-port", str(s.web_port),
                           "--master-bind-host", s.master_bind, "--master-bind-port", str(s.master_port))  # fmt: skip

    def worker_command(self) -> list[str]:
        return self.locust("--worker", "--master-host", self.settings.master_bind, "--master-port", str(self.settings.master_port))

    def start(self) -> None:
        s = self.settings
        for what, host, port in (("web UI", s.web_host, s.web_port), ("master", s.master_bind, s.master_port)):
            problem = port_problem(host, port)
            if problem:
                raise LabError(
                    f"Locust's {what} cannot listen on {host}:{port} ({problem}): another Locust, `make ui` or "
                    "`docker compose up` there? Stop it, or move the lab's with LOCUST_WEB_PORT / LOCUST_MASTER_PORT / LOCUST_MASTER_BIND"
                )
        self.master_process = spawn(self.master_command(), self.logs / "master.log", set(self.cores))
        for index in range(self.workers):
            self.start_worker(index)
        Master(self.web_url).wait_ready(self.workers + s.extra_workers, s.connect_timeout, alive=self.problem)

    def start_worker(self, index: int) -> None:
        # One worker per core: each is one Python process, so each gets a core of its own.
        process = spawn(self.worker_command(), self.logs / f"worker-{index + 1}.log", {self.cores[index % len(self.cores)]})
        if index < len(self.worker_processes):
            self.worker_processes[index] = process
        else:
            self.worker_processes.append(process)

    def problem(self) -> str | None:
        """Why the generator cannot work any more, or None."""
        if self.master_process.poll() is not None:
            return f"the Locust master exited (code {self.master_process.returncode}); last lines of {self.logs / 'master.log'}:\n{self.log_tail()}"
        for index, process in enumerate(self.worker_processes):
            if process.poll() is not None:
                log = self.logs / f"worker-{index + 1}.log"
                return f"Locust worker {index + 1} exited (code {process.returncode}); last lines of {log}:\n{log_tail(log)}"
        return None

    def ensure_workers(self) -> None:
        for index, process in enumerate(self.worker_processes):
            if process.poll() is not None:
                self.start_worker(index)

    def sampler(self) -> Sampler:
        return ProcessesSampler([p.pid for p in [self.master_process, *self.worker_processes]])

    def describe(self) -> dict:
        return {
            "engine": "local",
            "mode": f"one master + {self.workers} worker process(es), up for the whole run",
            "workers": self.workers,
            "extra_workers": self.settings.extra_workers,
            "processes": 1 + self.workers,
            "master_command": self.master_command(),
            "worker_command": self.worker_command(),
            "web_url": self.web_url,
            "python": sys.version.split()[0],
            "pids": [p.pid for p in [self.master_process, *self.worker_processes]],
        }

    def log_tail(self, lines: int = 15) -> str:
        return log_tail(self.logs / "master.log", lines)

    def stop(self) -> None:
        for process in [*self.worker_processes, self.master_process]:
            if process is not None:
                stop_process_group(process, grace=5)


class LocalEngine(Engine):
    """Targets as processes on loopback (or LAB_TARGET_HOST); Locust as master + workers."""

    name = "local"

    def __init__(self, run_dir: Path, settings: GeneratorSettings):
        self.run_dir = run_dir
        self.settings = settings

    def target(self, framework: Service, cores: list[int], env: dict | None = None, cpus: float | None = None) -> LocalTarget:
        return LocalTarget(framework, cores, self.run_dir / "targets" / f"{framework.name}.log", extra_env=env,
                           host=self.settings.target_host, cpus=cpus)  # fmt: skip

    @classmethod
    def cpu_limit(cls, cpus: float, cores: list[int]) -> dict:
        """How a budget of `cpus` on `cores` is held here; refused when no CPU quota can be set."""
        return cgroups.record(cpus, cores, cgroups.route_for(cpus, cores))

    def generator(self, cores: list[int]) -> LocalGenerator:
        return LocalGenerator(self.run_dir, cores, self.settings)

    def database_server(self) -> str:
        """The PostgreSQL server the lab works on: DATABASE_URL's (or the local default)."""
        return server_url()

    def describe(self) -> dict:
        return {"name": self.name}
