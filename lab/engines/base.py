"""What every engine provides, declared once, and what the engines share.

An engine (lab/engines/local.py: processes on loopback; lab/engines/docker/compose.py: compose services) gives the
runner three kinds of things, each a context manager so cleanup is a `with`:

- Target: one server under test (a framework or a bare baseline), started from its one
  start command on the server's cores;
- Generator: one Locust master and its workers, up for the whole run; the runner drives
  the master over its web API (lab/load/locust.py), the same master the web UI shows;
- Database: the lab's PostgreSQL database, created and seeded for the run.

The helpers below (health and settle waits, a process-tree sampler, log tails, the
environment a server is given) are engine-neutral; both engines import them from here.
"""

import time
from abc import ABC, abstractmethod
from pathlib import Path

import requests

from ..catalog import Service
from ..contract.database import redact
from ..errors import LabError
from ..load.locust import Master
from ..settings import GeneratorSettings
from .samplers import Sampler

# The settings the runner gives a server, as recorded in the manifest.
RECORDED_ENV = ("HOST", "PORT", "CPUS", "DATABASE_URL", "DB_POOL_SIZE")


class Target(ABC):
    """One server under test. `url`: where the host reaches it (conformance checks);
    `load_url`: where Locust's workers reach it; `cpus`: its CPU budget in cores."""

    framework: Service
    url: str
    load_url: str
    log_name: str
    cpus: float

    @property
    def name(self) -> str:
        return self.framework.name

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def alive(self) -> bool: ...

    @abstractmethod
    def settle(self) -> None:
        """Return once the server's worker processes have all started."""

    @abstractmethod
    def exit_reason(self) -> str: ...

    @abstractmethod
    def log_tail(self, lines: int = 15) -> str: ...

    @abstractmethod
    def describe(self) -> dict:
        """What ran, for the manifest: exact command lines, workers, cores, versions."""

    @abstractmethod
    def sampler(self) -> Sampler: ...

    @abstractmethod
    def limit(self, cpus: float | None) -> dict:
        """Hold the running server to `cpus` cores from now on (None: its whole cores, no quota);
        how it is held, as cpu_limit() says. The same processes serve on either side of a change."""

    @abstractmethod
    def cpu_limit(self) -> dict:
        """How the server is held now (method, cpus, period and quota), read back where the engine can."""

    @abstractmethod
    def cpu_seconds(self) -> float | None:
        """The server's CPU seconds so far from its cgroup's accounting (exact); None where it cannot be read."""

    @abstractmethod
    def pid(self) -> int | None:
        """The server's first process as this host sees it (its workers are its children), None if not visible."""

    @abstractmethod
    def stop(self) -> None: ...

    def wait_healthy(self, timeout: float = 60) -> None:
        wait_until_healthy(self, timeout)

    def __enter__(self) -> "Target":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Generator(ABC):
    """Locust: one master (web UI and API at `web_url`) and its workers, for the whole run."""

    web_url: str
    workers: int  # how many workers this engine starts (others may join from other hosts)
    settings: "GeneratorSettings"

    @abstractmethod
    def start(self) -> None:
        """Start the master and the workers; return once every worker is connected and ready."""

    @abstractmethod
    def problem(self) -> str | None:
        """Why the generator cannot work any more (the master exited...), or None."""

    def master(self) -> Master:
        return Master(self.web_url)

    @abstractmethod
    def ensure_workers(self) -> None:
        """Replace any of this engine's workers that has exited (between steps)."""

    @abstractmethod
    def sampler(self) -> Sampler:
        """CPU and memory of every Locust process this engine started."""

    @abstractmethod
    def describe(self) -> dict: ...

    @abstractmethod
    def log_tail(self, lines: int = 15) -> str: ...

    @abstractmethod
    def stop(self) -> None: ...

    def __enter__(self) -> "Generator":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Engine(ABC):
    """Builds targets, the generator and the database for one run; closing it removes
    whatever it started."""

    name: str
    # Whether targets may be started from several threads at once. Not for processes: the
    # local engine's parent-death signal fires when the *thread* that started one ends.
    parallel_start: bool = False

    # What setup() does, in words, when it does something worth saying (None: nothing to do).
    setup_note: str | None = None
    # Whether wrk on this machine reaches the targets as Locust does (not so through a port-forward).
    wrk_from_host: bool = True

    def fidelity_problem(self) -> str | None:
        """Why this engine cannot measure the budget's fidelity, once the targets run (None: it can)."""
        return None

    def setup(self) -> None:
        """Build or fetch what the engine needs before a run (cached: quick the second time)."""

    @abstractmethod
    def target(self, framework: Service, cores: list[int], env: dict | None = None, cpus: float | None = None) -> Target:
        """A server on `cores`, held to a budget of `cpus` cores (None: all of `cores`)."""

    @classmethod
    def cpu_limit(cls, cpus: float, cores: list[int]) -> dict:
        """How this engine holds a server to `cpus` cores, for the manifest; LabError when it cannot.

        A class method: the runner asks before it makes a run folder or starts anything."""
        return {"cpus": cpus, "method": "not recorded by this engine"}

    @abstractmethod
    def generator(self, cores: list[int]) -> Generator: ...

    @abstractmethod
    def database_server(self) -> str:
        """The URL of the PostgreSQL server the lab works on (its own database is made there)."""

    @abstractmethod
    def describe(self) -> dict: ...

    def sweep(self) -> list[str]:
        """Before a run: remove what an earlier run left because its runner was killed; say what.

        Local processes die with the runner (a parent-death signal), so only containers can be left."""
        return []

    def close(self) -> None:
        pass

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- shared helpers ----------------------------------------------------------------------


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def recorded_env(env: dict) -> dict:
    """The settings a server was given, for the manifest (the database URL without its password)."""
    recorded = {key: env[key] for key in RECORDED_ENV if key in env}
    if "DATABASE_URL" in recorded:
        recorded["DATABASE_URL"] = redact(recorded["DATABASE_URL"])
    return recorded


def wait_until_healthy(target: Target, timeout: float) -> None:
    """Poll /health until the server answers, for every engine's targets.

    503 counts as up: the server runs but its database does not; the runner asks /health why.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not target.alive():
            raise LabError(f"{target.name}: {target.exit_reason()} before it was healthy; last lines of {target.log_name}:\n{target.log_tail()}")
        try:
            # The contract gives a database DB_CONNECT_TIMEOUT (3 s) before it counts as down, and a
            # pooled service may take that long to say so (Django's async pool): wait a little longer.
            if requests.get(target.url + "/health", timeout=5).status_code in (200, 503):
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


def worker_count(child_command_lines: list[str]) -> int:
    """A server's workers from its master's children: Uvicorn with one worker serves from its only
    process; Gunicorn's and Granian's masters only supervise; Hypercorn's multiprocessing adds a
    resource tracker, which serves nothing."""
    return len([line for line in child_command_lines if "multiprocessing.resource_tracker" not in line]) or 1
