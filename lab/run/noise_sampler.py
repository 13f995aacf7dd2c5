"""Sampling the neighbour-noise guard's numbers while a step runs (the arithmetic: lab/run/noise.py):
/proc/stat and the cpuidle residency at a few hertz, the CPU of the lab's unpinned helpers (the
runner, the PostgreSQL backends of the lab's database, the Docker daemons), and the busiest
processes on the lab's cores, so a disturbed step names who it was.
"""

import time
import threading
from collections.abc import Callable

import psutil

from .noise import ALL, RESCAN_SECONDS, DOCKER_DAEMONS, Snapshot, foreign, read_idle, read_proc_stat, share_on


def helper_processes(database: str | None, docker: bool) -> list[psutil.Process]:
    """The runner, the PostgreSQL backends of the lab's database, and (docker) the Docker daemons."""
    found = [psutil.Process()]
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            name, cmdline = process.info["name"] or "", process.info["cmdline"] or []
            if (database and backend_database(" ".join(cmdline)) == database) or (docker and name in DOCKER_DAEMONS):
                found.append(process)
        except psutil.Error:
            continue
    return found


def backend_database(title: str) -> str | None:
    """The database a PostgreSQL backend serves, from its process title, else None.

    A backend's title is "postgres: <user> <database> <client> <state>"; with `cluster_name`
    set (Debian and Ubuntu set it) the cluster comes first: "postgres: 15/main: <user> <database> ...".
    Background processes ("postgres: 15/main: checkpointer") serve none."""
    words = title.split()
    if words[:1] != ["postgres:"]:
        return None
    words = words[1:]
    if words and words[0].endswith(":"):
        words = words[1:]
    # user, database, then the client: "host(port)" or "[local]"
    if len(words) >= 3 and (words[2].endswith(")") or words[2] == "[local]"):
        return words[1]
    return None


class NoiseSampler:
    """Samples /proc/stat and the lab's unpinned helpers together, in a thread, while a step runs."""

    def __init__(self, roles: dict[str, list[int]], database: str | None = None, docker: bool = False, interval: float = 0.25,
                 helpers: Callable[[], list[psutil.Process]] | None = None):  # fmt: skip
        self.roles = roles
        self.find_helpers = helpers or (lambda: helper_processes(database, docker))
        self.interval = interval
        self.snapshots: list[Snapshot] = []
        # pid -> (CPU seconds so far, share counted per role); a helper that exits keeps what it used.
        self._helpers: dict[int, tuple[float, dict[str, float]]] = {}
        self._found: dict[int, psutil.Process] = {}
        self._found_at = -RESCAN_SECONDS
        self._processes_before: dict[int, tuple[str, float]] = {}
        self.busiest: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _helper_seconds(self) -> dict[str, float]:
        # Finding the helpers reads every process's command line (~8 ms): done every few seconds,
        # while the ones found are read at every sample.
        if time.monotonic() - self._found_at >= RESCAN_SECONDS:
            self._found = {process.pid: process for process in self.find_helpers()}
            self._found_at = time.monotonic()
        everything = [core for cores in self.roles.values() for core in cores]
        for process in self._found.values():
            try:
                times = process.cpu_times()
                allowed = set(process.cpu_affinity())
            except psutil.Error:
                continue
            shares = {role: float(bool(set(cores) & allowed)) for role, cores in self.roles.items()}
            self._helpers[process.pid] = (times.user + times.system, {**shares, ALL: share_on(everything, allowed)})
        return {key: sum(cpu * shares[key] for cpu, shares in self._helpers.values()) for key in [*self.roles, ALL]}

    def _take(self) -> None:
        cpus = read_proc_stat()
        if cpus is not None:
            self.snapshots.append(Snapshot(time.time(), cpus, self._helper_seconds(), read_idle(sorted(cpus))))

    def _run(self) -> None:
        self._take()
        while not self._stop.wait(self.interval):
            self._take()

    def __enter__(self) -> "NoiseSampler":
        self._processes_before = process_times()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._take()
        self.busiest = busiest(self._processes_before, process_times(), set().union(*self.roles.values()))

    def record(self, start: float | None, end: float | None, lab_percent: dict[str, float | None]) -> dict | None:
        """The window's noise record; `lab_percent`: per role, its pinned processes' CPU % (of one core)."""
        if start is None or end is None:
            return None
        inside = [s for s in self.snapshots if start <= s.time <= end]
        if len(inside) < 2:
            return None
        rates = {role: None if percent is None else percent / 100 for role, percent in lab_percent.items()}
        # Who used the cores, the lab included: so that a reader of a disturbed step can see who else was there.
        return {**foreign(inside[0], inside[-1], self.roles, rates, end - start), "busiest_processes": self.busiest}


def process_times() -> dict[int, tuple[str, float, set[int]]]:
    """Every process's name, CPU seconds so far and allowed cores (one pass over /proc, ~10 ms).

    The CPU time includes that of its children that have exited (and been waited for): short-lived
    processes (a build's compilers, a test's subprocesses) show as their parent's.
    """
    found = {}
    for process in psutil.process_iter(["name", "cpu_times", "cpu_affinity"]):
        times, allowed = process.info["cpu_times"], process.info["cpu_affinity"]
        if times is not None and allowed is not None:
            cpu = times.user + times.system + times.children_user + times.children_system
            found[process.pid] = (process.info["name"] or "?", cpu, set(allowed))
    return found


def busiest(before: dict, after: dict, cores: set[int], top: int = 5) -> list[str]:
    """The processes that used the most CPU between two process_times() passes and may run on `cores`
    (a process born in between counts from zero; one that exited in between shows in its parent)."""
    used = []
    for pid, (name, cpu, allowed) in after.items():
        start = before.get(pid, (name, 0.0, allowed))[1]
        if cpu - start >= 0.01 and allowed & cores:
            used.append((cpu - start, f"{name} (pid {pid}) {cpu - start:.2f} s"))
    return [text for _, text in sorted(used, reverse=True)[:top]]


def busy_before(roles: dict[str, list[int]], seconds: float = 1.0) -> dict | None:
    """Before a run: how busy the lab's cores already are with other processes, and the busiest of those.

    Nothing of the lab runs yet but the runner itself, so everything else on the cores is foreign.
    """
    own = psutil.Process()
    others = {}
    for process in psutil.process_iter():
        if process.pid != own.pid:
            try:
                process.cpu_percent(None)  # primes psutil's per-process counter
                others[process.pid] = process
            except psutil.Error:
                continue
    with NoiseSampler(roles, helpers=lambda: [own], interval=seconds) as sampler:
        time.sleep(seconds)
    if len(sampler.snapshots) < 2:
        return None
    first, last = sampler.snapshots[0], sampler.snapshots[-1]
    record = foreign(first, last, roles, {role: 0.0 for role in roles}, last.time - first.time)
    cores = set(record["cores"])
    busiest = []
    for process in others.values():
        try:
            percent = process.cpu_percent(None)
            if percent >= 1 and set(process.cpu_affinity()) & cores:
                busiest.append((percent, f"{process.name()} (pid {process.pid}) {percent:.0f}%"))
        except psutil.Error:
            continue
    record["busiest"] = [text for _, text in sorted(busiest, reverse=True)[:3]]
    return record
