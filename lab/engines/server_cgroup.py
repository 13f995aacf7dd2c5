"""One server's cgroup (or the idle fillers'), made the way lab/engines/cgroups.py found works
here: the server's exact CPU, its throttling, and a quota set and lifted while it runs; and the
same accounting read from any process's cgroup (a container's, on the docker engine).
"""

import errno
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError
from .cgroups import PERIOD_US, PREFIX, Route, mounts, own_cgroup, quota_us, set_limit, set_lowest_weight, systemd_command, systemd_quota


def read_usage(folder: Path, v2: bool) -> float | None:
    """Cumulative CPU seconds of a cgroup: v2 cpu.stat usage_usec, v1 cpuacct.usage (ns)."""
    try:
        if v2:
            stat = dict(line.split() for line in (folder / "cpu.stat").read_text().splitlines())
            return int(stat["usage_usec"]) / 1e6
        return int((folder / "cpuacct.usage").read_text()) / 1e9
    except (OSError, ValueError, KeyError):
        return None


def read_throttling(folder: Path) -> tuple[int, int, float] | None:
    """The kernel's cumulative counts for a cgroup: (periods, periods throttled, seconds throttled)."""
    try:
        stat = dict(line.split() for line in (folder / "cpu.stat").read_text().splitlines())
    except (OSError, ValueError):
        return None
    # v1 counts the time throttled in ns (throttled_time), v2 in µs (throttled_usec).
    seconds = int(stat["throttled_usec"]) / 1e6 if "throttled_usec" in stat else int(stat.get("throttled_time", 0)) / 1e9
    return int(stat.get("nr_periods", 0)), int(stat.get("nr_throttled", 0)), seconds


def read_memory(folder: Path, v2: bool) -> int | None:
    """A cgroup's memory less its inactive page cache, as `docker stats` shows it."""
    try:
        used = int((folder / ("memory.current" if v2 else "memory.usage_in_bytes")).read_text())
        stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
    except (OSError, ValueError):
        return None
    return used - int(stat.get("total_inactive_file", stat.get("inactive_file", 0)))


@dataclass(frozen=True)
class Accounting:
    """Where a process's cgroup keeps its CPU, throttling and memory on this host (v1: three hierarchies)."""

    v2: bool
    cpu: Path
    cpuacct: Path
    memory: Path | None

    @classmethod
    def of(cls, pid: int) -> "Accounting | None":
        """The cgroup files of a process (a container's init, a server's master), or None where they cannot be read."""
        if own_cgroup("cpuacct", pid) is not None:
            folders = {}
            for controller in ("cpu", "cpuacct", "memory"):
                path = own_cgroup(controller, pid)
                mount = [point for point, options in mounts("cgroup") if controller in options]
                folders[controller] = mount[0] / path.lstrip("/") if path is not None and mount else None
            found = cls(False, folders["cpu"], folders["cpuacct"], folders["memory"]) if folders["cpu"] and folders["cpuacct"] else None
        else:
            path, mount = own_cgroup(None, pid), mounts("cgroup2")
            found = cls(True, mount[0][0] / path.lstrip("/"), mount[0][0] / path.lstrip("/"), mount[0][0] / path.lstrip("/")) if path and mount else None
        return found if found is not None and found.usage() is not None else None

    def usage(self) -> float | None:
        return read_usage(self.cpuacct, self.v2)

    def throttling(self) -> tuple[int, int, float] | None:
        return read_throttling(self.cpu)

    def memory_bytes(self) -> int | None:
        return read_memory(self.memory, self.v2) if self.memory else None


class Cgroup:
    """One target's cgroup: made before the server starts, removed after it stops.

    It always accounts the server's CPU; it holds a quota while limit() says so. With `lowest`,
    it is the idle fillers' instead (lab/engines/filler.py): the lowest weight, so that everything else on
    the core runs first (a SCHED_IDLE process alone would not do: with autogroups and cgroups, the
    kernel shares a core between groups before it looks at a process's policy)."""

    def __init__(self, route: Route, name: str, cpus: float | None = None, lowest: bool = False):
        self.route = route
        self.name = name
        self.cpus = cpus  # the quota in cores; None: none
        self.lowest = lowest
        self.unit = f"{PREFIX}-{os.getpid()}-{name}.scope"
        named = f"{PREFIX}.{os.getpid()}.{name}"
        self.folders = [folder / named for folder in dict.fromkeys([route.parent, route.accounting]) if folder is not None]
        self._procs_paths = [str(folder / "cgroup.procs") for folder in self.folders]
        self.pid: int | None = None  # the server's, once started: how a systemd scope is found

    @property
    def cpu_folder(self) -> Path | None:
        if self.route.method == "systemd":
            path = own_cgroup(None, self.pid) if self.pid else None
            return Path("/sys/fs/cgroup") / path.lstrip("/") if path else None
        return self.folders[0]

    @property
    def accounting_folder(self) -> Path | None:
        return self.cpu_folder if self.route.method != "cgroup1" else self.folders[-1]

    def create(self) -> None:
        try:
            for folder in self.folders:
                folder.mkdir()
            if self.folders:
                set_limit(self.route.method, self.folders[0], self.cpus)
                if self.lowest:
                    set_lowest_weight(self.route.method, self.folders[0])
        except OSError as problem:
            self.remove()
            raise LabError(f"cannot set the CPU quota in {self.folders[0]} ({problem.strerror})") from None

    def command(self, command: list[str]) -> list[str]:
        """The start command, inside a systemd scope when that is the route."""
        return [*systemd_command(self.cpus, self.unit, self.lowest), *command] if self.route.method == "systemd" else command

    def enter(self) -> None:
        """In the forked child, before exec: move this process into the cgroup (async-signal-safe calls only)."""
        for path in self._procs_paths:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)

    def limit(self, cpus: float | None) -> None:
        """Hold the server to `cpus` cores from now on (None: lift the quota)."""
        try:
            if self.route.method == "systemd":
                subprocess.run(["systemctl", "--user", "set-property", "--runtime", self.unit, *systemd_quota(cpus)],
                               check=True, capture_output=True, timeout=20)  # fmt: skip
            else:
                set_limit(self.route.method, self.folders[0], cpus)
        except (OSError, subprocess.SubprocessError) as problem:
            raise LabError(f"cannot change the CPU quota of {self.name} ({problem})") from None
        self.cpus = cpus

    def usage(self) -> float | None:
        folder = self.accounting_folder
        return read_usage(folder, self.route.method != "cgroup1") if folder else None

    def throttling(self) -> tuple[int, int, float] | None:
        folder = self.cpu_folder
        return read_throttling(folder) if folder else None

    def pids(self) -> list[int]:
        try:
            return [int(pid) for pid in (self.folders[0] / "cgroup.procs").read_text().split()] if self.folders else []
        except OSError:
            return []

    def remove(self, wait: float = 5) -> None:
        """Kill whatever is still in the cgroup and remove it (the kernel frees it a moment after the last exit)."""
        deadline = time.monotonic() + wait
        for folder in reversed(self.folders):
            while True:
                for pid in self.pids():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as problem:
                    if problem.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise LabError(f"cannot remove the cgroup {folder} ({problem.strerror}); remove it with rmdir") from None
                time.sleep(0.05)

    def describe(self) -> dict:
        """How the server is held now, for the manifest and each step."""
        held = {"method": self.route.method, "how": self.route.label,
                "cgroup": str(self.folders[0]) if self.folders else "a systemd --user scope", "accounting": "cgroup"}  # fmt: skip
        if not self.cpus:
            return {**held, "cpus": None, "quota": "none"}
        return {**held, "cpus": self.cpus, "period_us": PERIOD_US, "quota_us": quota_us(self.cpus)}
