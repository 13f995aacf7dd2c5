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
records.rules.disturbed (its threshold, NOISE_LIMIT, lives there).

What counts as the lab's own:
- the server's processes and Locust's (the engine's samplers: pinned to those cores, so all
  their CPU time was spent there), and the idle fillers on the server's cores (lab/engines/filler.py);
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
from dataclasses import dataclass
from pathlib import Path

USER_HZ = os.sysconf("SC_CLK_TCK")
PROC_STAT = "/proc/stat"
CPUIDLE = "/sys/devices/system/cpu/cpu{cpu}/cpuidle"
# How often the sampler looks for the lab's unpinned helpers again (lab/run/noise_sampler.py).
RESCAN_SECONDS = 2.0
# Processes that work for the runner on the docker engine (stats calls, container plumbing).
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
