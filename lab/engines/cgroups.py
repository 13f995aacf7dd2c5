"""A server's own cgroup, for the local engine: exact CPU accounting, and a CFS quota for a budget.

The server's start.sh process is put into a cgroup of its own before it execs the server, so
every worker it forks is in it. The cgroup gives two things:

- the server's CPU time, exact (the kernel's per-task runtime, summed): what the whole-core
  reference and the budget's fidelity are computed from (lab/run/reference.py);
- a quota, set and lifted while the server runs (Cgroup.limit): the same processes are
  measured on their whole cores and at the run's budget, so the budget changes nothing but
  the CPU the server gets.

The routes, tried in this order (the first that works here is used, and the manifest says which):

- cgroup v2: a child of this process's own cgroup, with `cpu.max` = "<quota> <period>", when
  that cgroup hands the cpu controller to its children and is writable (root, or a delegated
  subtree);
- systemd (not root): `systemd-run --user --scope`, when the user's systemd manager delegates
  the cpu controller; its quota is changed with `systemctl --user set-property --runtime`;
- cgroup v1: a child of this process's cgroup in the cpu controller's hierarchy, with
  `cpu.cfs_period_us` and `cpu.cfs_quota_us`, and one in the cpuacct hierarchy for the usage
  (the same folder where the two are mounted together).

The period is the kernel's default, PERIOD_US (100 ms), the one Docker's `cpus` uses too:
measured on a 2-core VM, a 10 ms period cost a server under a quota 5-12% of its requests per
CPU-second against its whole core, 100 ms 0-3% (docs/budget.md). A server over its budget
waits for the rest of the period, so latency under a fractional budget carries stalls of up
to one period: the lab reads latency from whole cores where it can (docs/budget.md).

A cgroup is removed when its target stops; one left by a runner that was killed is removed by
the next run (its name carries the runner's pid).
"""

import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError

PERIOD_US = 100_000
# The smallest budget the lab holds a server to: the ladder's last rung. Below it a framework
# answers the contract's checks too slowly to be told apart from a broken one.
MIN_CPUS = 0.1
PREFIX = "framework-load-lab"
NO_QUOTA = {"method": "none", "why": "the budget is the server's whole cores: pinning alone holds it"}


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


def own_cgroup(controller: str | None, pid: int | str = "self") -> str | None:
    """A process's cgroup path in the hierarchy of `controller` (None: cgroup v2's)."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _id, controllers, path = line.split(":", 2)
        if (controller is None and controllers == "") or (controller and controller in controllers.split(",")):
            return path
    return None


@dataclass(frozen=True)
class Route:
    method: str  # "cgroup2", "systemd", "cgroup1"
    parent: Path | None  # where the cgroups are made (None: systemd makes the scope)
    accounting: Path | None = None  # cgroup v1: the cpuacct hierarchy's folder (the same as parent when co-mounted)

    @property
    def label(self) -> str:
        return {
            "cgroup2": f"cgroup v2 cpu.max under {self.parent}",
            "systemd": "systemd-run --user --scope (CPUQuota, CPUQuotaPeriodSec)",
            "cgroup1": f"cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us under {self.parent}",
        }[self.method]


def write(path: Path, text: str) -> None:
    path.write_text(text)


# The weight of the idle fillers' cgroup (lab/engines/filler.py): the lowest each interface takes, so the
# server's cgroup (the default weight, 1024 shares or 100) runs whenever it wants the core.
LOWEST_WEIGHT = {"cgroup1": ("cpu.shares", "2"), "cgroup2": ("cpu.weight", "1"), "systemd": ("CPUWeight", "1")}


def set_lowest_weight(method: str, cgroup: Path) -> None:
    name, value = LOWEST_WEIGHT[method]
    write(cgroup / name, value)


def set_limit(method: str, cgroup: Path, cpus: float | None) -> None:
    """The quota (None: none) and the period, written into a cgroup."""
    if method == "cgroup2":
        write(cgroup / "cpu.max", f"{quota_us(cpus) if cpus else 'max'} {PERIOD_US}")
    else:
        # Lift the quota before the period changes (a quota is checked against the period there), then set both.
        write(cgroup / "cpu.cfs_quota_us", "-1")
        write(cgroup / "cpu.cfs_period_us", str(PERIOD_US))
        if cpus:
            write(cgroup / "cpu.cfs_quota_us", str(quota_us(cpus)))


def probe(method: str, parent: Path) -> str | None:
    """Make, set and remove a cgroup under `parent`: why it cannot be done, or None."""
    cgroup = parent / f"{PREFIX}.{os.getpid()}.probe"
    try:
        cgroup.mkdir()
    except OSError as problem:
        return f"cannot make a cgroup in {parent} ({problem.strerror})"
    try:
        set_limit(method, cgroup, 0.5)
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


def systemd_quota(cpus: float | None) -> list[str]:
    """The unit properties of a budget (an empty CPUQuota= lifts it)."""
    return [f"CPUQuota={cpus * 100:g}%" if cpus else "CPUQuota=", f"CPUQuotaPeriodSec={PERIOD_US // 1000}ms"]


def systemd_command(cpus: float | None, unit: str | None = None, lowest: bool = False) -> list[str]:
    properties = ["CPUAccounting=yes", *(systemd_quota(cpus) if cpus else []), *(["=".join(LOWEST_WEIGHT["systemd"])] if lowest else [])]
    return ["systemd-run", "--user", "--scope", "--quiet", "--collect", *([f"--unit={unit}"] if unit else []),
            *(f"--property={p}" for p in properties), "--"]  # fmt: skip


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


def cgroup1_parent() -> tuple[tuple[Path, Path] | None, str]:
    """The cpu hierarchy's folder for new cgroups, and the cpuacct one's (the same where co-mounted)."""
    folders = {}
    for controller in ("cpu", "cpuacct"):
        found = [point for point, options in mounts("cgroup") if controller in options]
        path = own_cgroup(controller)
        if not found or path is None:
            return None, f"no cgroup v1 {controller} controller mounted"
        folders[controller] = found[0] / path.lstrip("/")
    problem = probe("cgroup1", folders["cpu"])
    if problem:
        return None, f"cgroup v1: {problem}"
    if folders["cpuacct"] != folders["cpu"] and not os.access(folders["cpuacct"], os.W_OK):
        return None, f"cgroup v1: cannot make a cgroup in {folders['cpuacct']} (not writable)"
    return (folders["cpu"], folders["cpuacct"]), ""


@functools.cache
def find_route() -> Route | str:
    """The first route that works here, or a sentence saying why none does."""
    reasons = []
    parent, why = cgroup2_parent()
    if parent:
        return Route("cgroup2", parent, parent)
    reasons.append(why)
    why = systemd_works()
    if why is None:
        return Route("systemd", None)
    reasons.append(why)
    folders, why = cgroup1_parent()
    if folders:
        return Route("cgroup1", *folders)
    reasons.append(why)
    return "; ".join(reasons)


def route_for(cpus: float, cores: list[int]) -> Route | None:
    """The route for a server on `cores` (None: none works here, which is refused for a fraction)."""
    route = find_route()
    if isinstance(route, str):
        if cpus < len(cores):
            raise LabError(
                f"server budget {cpus:g} cores needs a CPU quota, and none can be set here ({route}); "
                f"run as root with a writable cgroup (v2 with the cpu controller for its children, or v1's cpu controller), "
                f"or as a user whose systemd --user delegates the cpu controller, "
                f"or use whole cores (SERVER_CPUS={len(cores)}) or ENGINE=docker"
            )
        return None
    sweep(route)
    return route


def no_route_reason() -> str | None:
    """Why no cgroup can be made here (so no exact CPU accounting either), or None."""
    route = find_route()
    return route if isinstance(route, str) else None


def sweep(route: Route) -> None:
    """Remove empty cgroups left by runners that no longer run (killed before they could)."""
    for parent in {route.parent, route.accounting} - {None}:
        for cgroup in parent.glob(f"{PREFIX}.*"):
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


def record(cpus: float, cores: list[int], route: Route | None) -> dict:
    """The manifest's account of how the budget is held (engine local)."""
    if cpus >= len(cores) or route is None:
        return {"cpus": cpus, **NO_QUOTA}
    return {"cpus": cpus, "method": route.method, "how": route.label, "period_us": PERIOD_US, "quota_us": quota_us(cpus)}
