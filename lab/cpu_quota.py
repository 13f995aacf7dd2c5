"""A server CPU budget below its cores, for the local engine: a CFS quota on the server's processes.

The server's start.sh process is put into a cgroup of its own before it execs the server, so
every worker it forks inherits the quota. The routes, tried in this order (the first that
works here is used, and the manifest says which):

- cgroup v2: a child of this process's own cgroup, with `cpu.max` = "<quota> <period>", when
  that cgroup hands the cpu controller to its children and is writable (root, or a delegated
  subtree);
- systemd (not root): `systemd-run --user --scope -p CPUQuota=.. -p CPUQuotaPeriodSec=..`,
  when the user's systemd manager delegates the cpu controller;
- cgroup v1: a child of this process's cgroup in the cpu controller's hierarchy, with
  `cpu.cfs_period_us` and `cpu.cfs_quota_us`.

The period is PERIOD_US (10 ms, not the kernel's 100 ms): a server over its budget waits at
most the rest of one period, so at 0.5 core a request can stall ~5 ms rather than ~50 ms, and
latency shows the budget rather than the throttling (README, "A fractional CPU budget").

A cgroup is removed when its target stops; one left by a runner that was killed is removed by
the next run (its name carries the runner's pid).
"""

import errno
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .catalog import LabError

PERIOD_US = 10_000
# The kernel's smallest quota (1 ms) over the period: the smallest budget a quota can hold.
MIN_QUOTA_US = 1_000
MIN_CPUS = MIN_QUOTA_US / PERIOD_US
PREFIX = "framework-load-lab"
NO_QUOTA = {"method": "none", "why": "the budget is the server's whole cores: pinning alone holds it"}


def needs_quota(cpus: float, cores: list[int]) -> bool:
    return cpus < len(cores)


def quota_us(cpus: float) -> int:
    return round(cpus * PERIOD_US)


def mounts(fstype: str) -> list[tuple[Path, set[str]]]:
    """(mount point, options) of every mount of this type, from /proc/self/mounts."""
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _device, point, kind, options, *_ = line.split()
        if kind == fstype:
            found.append((Path(point.replace("\\040", " ")), set(options.split(","))))
    return found


def own_cgroup(controller: str | None) -> str | None:
    """This process's cgroup path in the hierarchy of `controller` (None: cgroup v2's)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _id, controllers, path = line.split(":", 2)
        if (controller is None and controllers == "") or (controller and controller in controllers.split(",")):
            return path
    return None


@dataclass(frozen=True)
class Route:
    method: str  # "cgroup2", "systemd", "cgroup1"
    parent: Path | None  # where the cgroups are made (None: systemd makes the scope)

    @property
    def label(self) -> str:
        return {
            "cgroup2": f"cgroup v2 cpu.max under {self.parent}",
            "systemd": "systemd-run --user --scope (CPUQuota, CPUQuotaPeriodSec)",
            "cgroup1": f"cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us under {self.parent}",
        }[self.method]


def write(path: Path, text: str) -> None:
    path.write_text(text)


def settings(method: str, cgroup: Path, cpus: float) -> None:
    """The quota and period written into a new cgroup."""
    if method == "cgroup2":
        write(cgroup / "cpu.max", f"{quota_us(cpus)} {PERIOD_US}")
    else:
        # The period first: a quota is checked against the period already there.
        write(cgroup / "cpu.cfs_period_us", str(PERIOD_US))
        write(cgroup / "cpu.cfs_quota_us", str(quota_us(cpus)))


def probe(method: str, parent: Path) -> str | None:
    """Make, set and remove a cgroup under `parent`: why it cannot be done, or None."""
    cgroup = parent / f"{PREFIX}.{os.getpid()}.probe"
    try:
        cgroup.mkdir()
    except OSError as problem:
        return f"cannot make a cgroup in {parent} ({problem.strerror})"
    try:
        settings(method, cgroup, 0.5)
    except OSError as problem:
        return f"cannot set a CPU quota in {parent} ({problem.strerror})"
    finally:
        cgroup.rmdir()
    return None


def cgroup2_parent() -> tuple[Path | None, str]:
    """This process's cgroup v2 when its children can get the cpu controller; else why not."""
    found = mounts("cgroup2")
    path = own_cgroup(None)
    if not found or path is None:
        return None, "no cgroup v2 mounted"
    parent = found[0][0] / path.lstrip("/")
    try:
        delegated = "cpu" in (parent / "cgroup.subtree_control").read_text().split()
    except OSError as problem:
        return None, f"cgroup v2 at {parent} unreadable ({problem.strerror})"
    if not delegated:
        return None, f"cgroup v2 at {parent} does not give its children the cpu controller"
    problem = probe("cgroup2", parent)
    return (None, f"cgroup v2: {problem}") if problem else (parent, "")


# What the systemd probe runs in its scope: the scope's own cpu.max (v2), to see the quota applied.
SCOPE_CPU_MAX = (
    "import pathlib; p = [l.split(':', 2)[2] for l in open('/proc/self/cgroup').read().splitlines() if l.startswith('0::')][0]; "
    "print(pathlib.Path('/sys/fs/cgroup' + p, 'cpu.max').read_text().strip())"
)


def systemd_command(cpus: float) -> list[str]:
    return ["systemd-run", "--user", "--scope", "--quiet", "--collect", f"--property=CPUQuota={cpus * 100:g}%",
            f"--property=CPUQuotaPeriodSec={PERIOD_US // 1000}ms", "--"]  # fmt: skip


def systemd_works() -> str | None:
    """Why a user scope cannot hold a quota here, or None (it ran one and read its cpu.max back)."""
    if os.geteuid() == 0:
        return "systemd --user is for users other than root"
    if not shutil.which("systemd-run"):
        return "no systemd-run"
    try:
        done = subprocess.run([*systemd_command(0.5), sys.executable, "-c", SCOPE_CPU_MAX], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return "systemd-run --user did not answer within 20 s"
    if done.returncode != 0:
        return f"systemd-run --user failed ({(done.stderr.strip().splitlines() or ['no output'])[-1]})"
    if done.stdout.split() != [str(quota_us(0.5)), str(PERIOD_US)]:
        return "systemd --user does not delegate the cpu controller (its scope got no cpu.max)"
    return None


def cgroup1_parent() -> tuple[Path | None, str]:
    found = [point for point, options in mounts("cgroup") if "cpu" in options]
    path = own_cgroup("cpu")
    if not found or path is None:
        return None, "no cgroup v1 cpu controller mounted"
    parent = found[0] / path.lstrip("/")
    problem = probe("cgroup1", parent)
    return (None, f"cgroup v1: {problem}") if problem else (parent, "")


@functools.cache
def find_route() -> Route | str:
    """The first route that works here, or a sentence saying why none does."""
    reasons = []
    parent, why = cgroup2_parent()
    if parent:
        return Route("cgroup2", parent)
    reasons.append(why)
    why = systemd_works()
    if why is None:
        return Route("systemd", None)
    reasons.append(why)
    parent, why = cgroup1_parent()
    if parent:
        return Route("cgroup1", parent)
    reasons.append(why)
    return "; ".join(reasons)


def require(cpus: float, cores: list[int]) -> Route | None:
    """The route that will hold `cpus` on `cores` (None: no quota needed); refused when none can."""
    if not needs_quota(cpus, cores):
        return None
    route = find_route()
    if isinstance(route, str):
        raise LabError(
            f"server budget {cpus:g} cores needs a CPU quota, and none can be set here ({route}); "
            f"run as root with a writable cgroup (v2 with the cpu controller for its children, or v1's cpu controller), "
            f"or as a user whose systemd --user delegates the cpu controller, "
            f"or use whole cores (SERVER_CPUS={len(cores)}) or ENGINE=docker"
        )
    sweep(route)
    return route


def sweep(route: Route) -> None:
    """Remove empty cgroups left by runners that no longer run (killed before they could)."""
    if route.parent is None:
        return
    for cgroup in route.parent.glob(f"{PREFIX}.*"):
        match = re.fullmatch(rf"{re.escape(PREFIX)}\.(\d+)\..+", cgroup.name)
        if match and not pid_alive(int(match[1])):
            try:
                cgroup.rmdir()
            except OSError:
                pass  # still holds processes: not empty, so not ours to remove


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Quota:
    """One target's cgroup: made before the server starts, removed after it stops."""

    def __init__(self, route: Route, name: str, cpus: float):
        self.route = route
        self.cpus = cpus
        self.cgroup = route.parent / f"{PREFIX}.{os.getpid()}.{name}" if route.parent else None
        self._procs_path = str(self.cgroup / "cgroup.procs") if self.cgroup else None

    def create(self) -> None:
        if self.cgroup is None:
            return
        try:
            self.cgroup.mkdir()
            settings(self.route.method, self.cgroup, self.cpus)
        except OSError as problem:
            self.remove()
            raise LabError(f"cannot set the CPU quota in {self.cgroup} ({problem.strerror})") from None

    def command(self, command: list[str]) -> list[str]:
        """The start command, inside a systemd scope when that is the route."""
        return [*systemd_command(self.cpus), *command] if self.route.method == "systemd" else command

    def enter(self) -> None:
        """In the forked child, before exec: move this process into the cgroup (async-signal-safe calls only)."""
        if self._procs_path is None:
            return
        fd = os.open(self._procs_path, os.O_WRONLY)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)

    def pids(self) -> list[int]:
        try:
            return [int(pid) for pid in (self.cgroup / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def remove(self, wait: float = 5) -> None:
        """Kill whatever is still in the cgroup and remove it (the kernel frees it a moment after the last exit)."""
        if self.cgroup is None:
            return
        deadline = time.monotonic() + wait
        while True:
            for pid in self.pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.cgroup.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError as problem:
                if problem.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise LabError(f"cannot remove the cgroup {self.cgroup} ({problem.strerror}); remove it with rmdir") from None
            time.sleep(0.05)

    def throttling(self) -> tuple[int, int, float] | None:
        """The kernel's cumulative counts for this cgroup: (periods, periods throttled, seconds throttled)."""
        if self.cgroup is None:
            return None
        try:
            stat = dict(line.split() for line in (self.cgroup / "cpu.stat").read_text().splitlines())
        except (OSError, ValueError):
            return None
        # v1 counts the time throttled in ns (throttled_time), v2 in µs (throttled_usec).
        seconds = int(stat["throttled_usec"]) / 1e6 if "throttled_usec" in stat else int(stat.get("throttled_time", 0)) / 1e9
        return int(stat.get("nr_periods", 0)), int(stat.get("nr_throttled", 0)), seconds

    def describe(self) -> dict:
        return {
            "method": self.route.method,
            "how": self.route.label,
            "cgroup": str(self.cgroup) if self.cgroup else "a systemd --user scope",
            "cpus": self.cpus,
            "period_us": PERIOD_US,
            "quota_us": quota_us(self.cpus),
        }


def record(cpus: float, cores: list[int], route: Route | None) -> dict:
    """The manifest's account of how the budget is held (engine local)."""
    if route is None:
        return {"cpus": cpus, **NO_QUOTA}
    return {"cpus": cpus, "method": route.method, "how": route.label, "period_us": PERIOD_US, "quota_us": quota_us(cpus)}
