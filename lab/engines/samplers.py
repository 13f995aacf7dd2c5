"""What a server or Locust used while a step ran: CPU seconds and memory sampled in a thread,
turned into the window's CPU seconds, CPU % and peak memory (usage). The samplers of processes on
this machine live here; the docker engine's ContainerSampler reads the same from containers.
"""

import threading
import time
from abc import ABC, abstractmethod

import psutil

from .server_cgroup import Cgroup


class Sampler(ABC):
    """Samples cumulative CPU time and memory in a thread while a step runs.

    Samples are (epoch seconds, CPU seconds, memory bytes); usage() turns the ones inside
    the measured window into CPU seconds, mean CPU % (of one core) and peak memory.
    """

    def __init__(self, interval: float = 0.25):
        self.interval = interval
        self.samples: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @abstractmethod
    def sample(self) -> tuple[float, int] | None:
        """(CPU seconds so far, memory bytes now), or None when nothing can be read."""

    def _take(self) -> None:
        taken = self.sample()
        if taken is not None:
            self.samples.append((time.time(), *taken))

    def _run(self) -> None:
        self._take()
        while not self._stop.wait(self.interval):
            self._take()

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        # No last sample and no wait for one in flight: the window is over, its samples are in
        # (a Docker stats call can take a second; samples only ever get appended).
        self._stop.set()
        self._thread.join(timeout=self.interval)

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


class TreeSampler(Sampler):
    """A process and all its children, by pid (psutil); a worker that exits keeps what it used."""

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(interval)
        self.pid = pid
        self._cpu_by_pid: dict[int, float] = {}

    def sample(self) -> tuple[float, int] | None:
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return None
        rss = 0
        for process in processes:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    self._cpu_by_pid[process.pid] = times.user + times.system
                    rss += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return sum(self._cpu_by_pid.values()), rss


class CgroupSampler(TreeSampler):
    """A server in a cgroup of its own: its CPU from the cgroup (exact), its memory from its
    process tree, and how often the kernel throttled it in the window."""

    def __init__(self, pid: int, cgroup: Cgroup, interval: float = 0.25):
        super().__init__(pid, interval)
        self.cgroup = cgroup
        self.throttling: list[tuple[float, tuple[int, int, float]]] = []

    def sample(self) -> tuple[float, int] | None:
        tree = super().sample()
        cpu = self.cgroup.usage()
        if tree is None or cpu is None:
            return tree
        counts = self.cgroup.throttling()
        if counts is not None:
            self.throttling.append((time.time(), counts))
        return cpu, tree[1]

    def usage(self, start: float | None = None, end: float | None = None) -> dict:
        found = {**super().usage(start, end), "cpu_source": "cgroup"}
        inside = [c for t, c in self.throttling if (start is None or t >= start) and (end is None or t <= end)]
        if len(inside) < 2 or not self.cgroup.cpus:
            return found
        (periods0, throttled0, seconds0), (periods1, throttled1, seconds1) = inside[0], inside[-1]
        # Periods in which the server used its whole quota and had to wait: the budget at work.
        throttle = {"periods": periods1 - periods0, "throttled_periods": throttled1 - throttled0, "throttled_s": round(seconds1 - seconds0, 3)}
        return {**found, "throttle": throttle}


class ProcessesSampler(Sampler):
    """Several process trees as one: Locust's master and workers."""

    def __init__(self, pids: list[int], interval: float = 0.25):
        super().__init__(interval)
        self.trees = [TreeSampler(pid) for pid in pids]

    def sample(self) -> tuple[float, int] | None:
        taken = [t for t in (tree.sample() for tree in self.trees) if t is not None]
        return (sum(cpu for cpu, _ in taken), sum(rss for _, rss in taken)) if taken else None
