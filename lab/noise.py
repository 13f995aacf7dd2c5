"""Neighbour noise: CPU time on the server's and Locust's cores taken by anything that is not the lab.

Linux counts, per CPU, the time it spent idle and, on a VM, the time the hypervisor ran
something else while this CPU wanted to run (steal). Over a step's window, the busy time of
the server's cores (the window less their idle time) minus what the lab's own processes used
there is what a neighbour took; the same for Locust's cores.

Busy time is the window less the cores' idle time, both exact: the cpuidle driver's idle
residency (/sys/devices/system/cpu/cpuN/cpuidle, in microseconds) where there is one, else
/proc/stat's idle and iowait columns, which a tickless kernel (NO_HZ, every distribution's)
counts from the moments a core goes idle and wakes, not from its timer ticks. /proc/stat's
user, nice and system columns are sampled at each tick instead, and a server held to a CPU
quota runs in bursts that start and end on timer events: measured at 0.4 core (a busy loop,
5 s, 10 ms period), they counted 3.41 s where the cgroup's exact accounting said 2.00 s and
the idle columns gave 2.02 s (docs/noise.md). The record says which source it used
(`busy_source`). The rule that turns those numbers into a "disturbed" step is
analysis.stats.disturbed (its threshold, NOISE_LIMIT, lives there).

What counts as the lab's own:
- the server's processes and Locust's (the engine's samplers: pinned to those cores, so all
  their CPU time was spent there), and the idle fillers on the server's cores (lab/filler.py);
- processes that are not pinned but work for the lab: the runner itself, the PostgreSQL
  backends connected to the lab's own database (the machine's PostgreSQL is not pinned) and,
  on the docker engine, the Docker daemons that answer the runner's stats calls. Which core
  they ran on is not known (Linux keeps no per-process, per-CPU time), so on each role's
  cores all of their CPU time is counted as the lab's wherever they may run there: a role's
  foreign time is a lower bound, and the lab's own unpinned work (about a tenth of a core)
  never makes a step look disturbed. Over all the lab's cores together (the totals) their
  time is counted in proportion to how many of the cores they may use are the lab's: exact
  when every core is the lab's. PostgreSQL's other processes (other databases, its
  background workers) are not the lab's: they count as foreign.

Interrupt time (irq, softirq, as /proc/stat's ticks sample it) is kept apart and not counted as
busy: the lab's own network traffic is handled there (on loopback, and more so through Docker's
bridge, where a keep-alive step at 3,000 req/s left 7% of Locust's core in interrupts).

Rates, not raw differences: the samplers each sample at their own moments inside the window,
so each one's CPU is taken as a rate over its own samples and scaled to the window.
"""

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

USER_HZ = os.sysconf("SC_CLK_TCK")
PROC_STAT = "/proc/stat"
CPUIDLE = "/sys/devices/system/cpu/cpu{cpu}/cpuidle"
# Processes that work for the runner on the docker engine (stats calls, container plumbing).
RESCAN_SECONDS = 2.0
DOCKER_DAEMONS = ("dockerd", "containerd", "containerd-shim-runc-v2", "containerd-shim")


@dataclass(frozen=True)
class CpuTimes:
    """One CPU's cumulative seconds since boot."""

    busy: float  # user + nice + system (guest time is inside user): sampled at timer ticks
    irq: float  # irq + softirq
    steal: float
    idle: float = 0.0  # idle + iowait: exact on a tickless kernel


def parse_proc_stat(text: str) -> dict[int, CpuTimes]:
    """Per-CPU times from /proc/stat's `cpuN` lines (the aggregate `cpu` line is left out)."""
    cpus = {}
    for line in text.splitlines():
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        # user nice system idle iowait irq softirq steal [guest guest_nice], in USER_HZ ticks
        ticks = [int(value) for value in fields] + [0] * (8 - len(fields))
        user, nice, system, idle, iowait, irq, softirq, steal = ticks[:8]
        cpus[int(name[3:])] = CpuTimes((user + nice + system) / USER_HZ, (irq + softirq) / USER_HZ, steal / USER_HZ, (idle + iowait) / USER_HZ)
    return cpus


def read_proc_stat(path: str = PROC_STAT) -> dict[int, CpuTimes] | None:
    try:
        with open(path) as handle:
            return parse_proc_stat(handle.read())
    except (OSError, ValueError):
        return None  # not Linux, or no /proc: no noise guard


def read_idle(cpus: list[int], pattern: str = CPUIDLE) -> dict[int, float] | None:
    """Seconds each CPU spent idle since boot, summed over its cpuidle states; None without a cpuidle driver."""
    found = {}
    for cpu in cpus:
        states = sorted(Path(pattern.format(cpu=cpu)).glob("state*/time"))
        if not states:
            return None
        try:
            found[cpu] = sum(int(state.read_text()) for state in states) / 1e6
        except (OSError, ValueError):
            return None
    return found


def role_times(cpus: dict[int, CpuTimes], cores: list[int]) -> CpuTimes:
    """The summed times of a role's cores."""
    present = [cpus[core] for core in cores if core in cpus]
    return CpuTimes(sum(c.busy for c in present), sum(c.irq for c in present), sum(c.steal for c in present), sum(c.idle for c in present))


def share_on(cores: list[int], allowed: set[int]) -> float:
    """The part of an unpinned process's CPU time counted on `cores` as a whole: the share of the cores it may use."""
    return len(set(cores) & allowed) / len(allowed) if allowed else 0.0


# Snapshot.helpers key of the helpers' time over all the lab's cores together (roles are the other keys).
ALL = "all"


@dataclass
class Snapshot:
    time: float
    cpus: dict[int, CpuTimes]
    # CPU seconds so far of the lab's unpinned helpers: per role, of those that may run on its
    # cores (all of their time); under ALL, their share on all the lab's cores together.
    helpers: dict[str, float]
    # Idle seconds so far per CPU from the cpuidle driver (exact); None where there is none.
    idle: dict[int, float] | None = None


def foreign(first: Snapshot, last: Snapshot, roles: dict[str, list[int]], lab_rate: dict[str, float | None], window: float) -> dict:
    """The noise record of a window: per role, busy and the lab's CPU seconds, what is left, and steal.

    `lab_rate`: per role, the CPU (in cores) its pinned lab processes used on average (the
    engine's samplers); the unpinned helpers come from the snapshots. Everything is a rate over
    the snapshots' own interval, scaled to `window` seconds.
    """
    wall = last.time - first.time
    scale = window / wall if wall > 0 else 0.0

    exact = first.idle is not None and last.idle is not None

    def measure(cores: list[int], pinned: float | None, helpers: float) -> dict:
        before, after = role_times(first.cpus, cores), role_times(last.cpus, cores)
        if wall <= 0 or pinned is None:
            return dict.fromkeys(("busy_cpu_s", "lab_cpu_s", "foreign_cpu_s", "irq_cpu_s", "steal_cpu_s", "foreign_percent", "steal_percent"))
        capacity = wall * len(cores)
        lab, steal = pinned * wall + helpers, after.steal - before.steal
        if exact and all(core in first.idle and core in last.idle for core in cores):
            idle = sum(last.idle[core] - first.idle[core] for core in cores)
        else:
            idle = after.idle - before.idle
        # Interrupt time is kept apart (the ticks that landed in it): the lab's own network traffic.
        busy = max(capacity - idle - steal - (after.irq - before.irq), 0.0)
        left = max(busy - lab, 0.0)  # a little below zero is the samplers' rounding, not negative noise
        return {
            "busy_cpu_s": round(busy * scale, 3),
            "lab_cpu_s": round(lab * scale, 3),
            "foreign_cpu_s": round(left * scale, 3),
            "irq_cpu_s": round((after.irq - before.irq) * scale, 3),
            "steal_cpu_s": round(steal * scale, 3),
            "foreign_percent": round(100 * left / capacity, 1),
            "steal_percent": round(100 * steal / capacity, 1),
        }

    def helpers(key: str) -> float:
        return last.helpers.get(key, 0.0) - first.helpers.get(key, 0.0)

    per_role = {role: {"cores": list(cores), **measure(cores, lab_rate.get(role), helpers(role))} for role, cores in roles.items()}
    everything = sorted(core for cores in roles.values() for core in cores)
    pinned = [lab_rate.get(role) for role in roles]
    total = measure(everything, None if None in pinned else sum(pinned), helpers(ALL))
    known = {role: entry for role, entry in per_role.items() if entry["foreign_percent"] is not None}
    # The role whose cores lost the most (other processes plus steal): the one the rule reads.
    worst = max(known, key=lambda role: known[role]["foreign_percent"] + known[role]["steal_percent"], default=None)
    return {
        "cores": everything,
        "window_s": round(window, 3),
        "busy_source": "cpuidle" if exact else "proc_stat_idle",
        **{key: total[key] for key in ("busy_cpu_s", "lab_cpu_s", "foreign_cpu_s", "irq_cpu_s", "steal_cpu_s")},
        "all_cores_foreign_percent": total["foreign_percent"],
        "worst_role": worst,
        "foreign_percent": known[worst]["foreign_percent"] if worst else None,
        "steal_percent": known[worst]["steal_percent"] if worst else None,
        "roles": per_role,
        "helpers_cpu_s": round(helpers(ALL) * scale, 3),
    }


# -- the lab's unpinned helpers ----------------------------------------------------------


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
