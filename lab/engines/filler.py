"""Idle fillers: the server's cores kept busy at the lowest priority while a CPU quota holds the server.

A quota of b cores runs the server for b of every period and leaves its cores idle for the
rest. On a VM an idle core is halted and given back to the host, and the server comes back
to it slower: measured on a 2-core VM (wrk, FastAPI at 0.4 core, 100 ms period, the same
processes), 6,300-9,900 requests per CPU-second from one 8 s window to the next with the core
left idle, 9,300-9,800 with it kept busy, against 9,900 on the whole core (docs/budget.md).

A filler is one busy loop per server core, in a cgroup of its own with the lowest CPU weight
(lab/engines/cgroups.py), and SCHED_IDLE inside it: the kernel runs it only when nothing else on
that core wants to, and the server preempts it as soon as it wakes, so it takes nothing from
the server and fills what the quota leaves idle. (A SCHED_IDLE process alone is not enough:
the kernel shares a core between cgroups and session autogroups first, and a filler in a
group of its own at the default weight took half of the core from a server at 0.5 core.)
It is the lab's own process: the noise guard counts its CPU time as the lab's (lab/run/noise.py).
The runner pauses it while it measures the server on its whole cores (lab/run/reference.py),
where there is no quota and so no idle time to fill.

Without a cgroup for it (no route here: lab/engines/cgroups.py), there is no filler, and the manifest says so.
"""

import os
import signal
import subprocess
import sys

import psutil

from . import cgroups
from .server_cgroup import Cgroup
from .samplers import Sampler
from .processes import spawn

# The loop each filler runs: idle priority inside its cgroup too, then spin.
LOOP = "import os; os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\nwhile True: pass"


class IdleFiller:
    """One busy loop per core at the lowest priority, as a context manager; paused and resumed by the runner."""

    def __init__(self, cores: list[int], log_dir):
        self.cores = list(cores)
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []
        route = cgroups.find_route()
        self.problem = route if isinstance(route, str) else None
        # One cgroup per core (a systemd scope holds one command).
        self.cgroups = [] if self.problem else [Cgroup(route, f"filler{core}", lowest=True) for core in self.cores]

    def __enter__(self) -> "IdleFiller":
        try:
            for core, cgroup in zip(self.cores, self.cgroups):
                cgroup.create()
                command = cgroup.command([sys.executable, "-c", LOOP])
                self.processes.append(spawn(command, self.log_dir / f"filler-{core}.log", {core}, enter=cgroup.enter))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait()
        self.processes = []
        for cgroup in self.cgroups:
            cgroup.remove()

    def _signal(self, signum: int) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signum)

    def pause(self) -> None:
        """Stop filling (the server is about to run on its whole cores)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def sampler(self) -> "FillerSampler":
        return FillerSampler(self.pids)

    def describe(self) -> dict:
        if self.problem:
            return {"cores": self.cores, "none": f"no cgroup can be made here for it ({self.problem})"}
        name, value = cgroups.LOWEST_WEIGHT[self.cgroups[0].route.method]
        return {"cores": self.cores, "how": f"a busy loop per core, SCHED_IDLE, each in a cgroup of the lowest CPU weight ({name}={value})"}


class FillerSampler(Sampler):
    """The fillers' CPU seconds (their memory is not the server's: reported as 0)."""

    def __init__(self, pids: list[int], interval: float = 0.25):
        super().__init__(interval)
        self.pids = pids

    def sample(self) -> tuple[float, int] | None:
        total = 0.0
        for pid in self.pids:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                return None
            total += times.user + times.system
        return total, 0
