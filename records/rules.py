"""The rules that judge a step, the one place they live. The runner applies them as it measures
(lab/) and the analysis when it reads a run (analysis/): both import them from here.

Stdlib only, like the rest of records/: a run from another machine is read with nothing but this.

- generator-bound: the generator may have set the number, not the target. Any of:
  its cores were full: the load on Locust's cores (the highest of a worker's CPU demand, CPU
  time plus time waiting for a core; all Locust processes' CPU over its cores; and everything
  that ran on them, interrupts included) at or above GENERATOR_CPU_LIMIT %;
  throughput within GENERATOR_CEILING_MARGIN of the generator's ceiling (the best Locust got
  from the bare app on the same server, same scenario: the same connection pattern);
  Locust below GENERATOR_WRK_RATIO of wrk's throughput on the same target and connections,
  while the server had CPU to spare (below SERVER_SATURATED of its budget: a server that used
  its whole budget set the pace itself, whatever wrk got from it another time);
  or calibration found the target needs more of the generator than HEADROOM_GOAL allows at
  this budget (lab/run/calibrate.py);
- disturbed: on the server's or Locust's cores, other processes' CPU time plus the
  hypervisor's steal time reached NOISE_LIMIT % of those cores' time in the window
  (measured by lab/run/noise.py);
- faithful: a figure's requests per CPU-second at the run's budget, with the generator that
  measured it (wrk, or Locust), within FIDELITY_BAND of the same server's on its whole cores
  with wrk (its fidelity: lab/run/reference.py). wrk's isolates the budget and judges the claims.
"""

import math
from numbers import Real

# A target may need at most this share of the generator's capacity: Locust keeps the rest as
# headroom. Measured (docs/budget.md): at or below ~60% of a core Locust's numbers stay within
# about 10% of wrk's on the same target; at 90% and above it sets them.
HEADROOM_GOAL = 0.60
GENERATOR_CPU_LIMIT = 90.0
GENERATOR_CEILING_MARGIN = 0.10
# wrk and Locust open the same connections to the same server: when the server sets the pace
# they agree within a few percent (measured with Locust at or below HEADROOM_GOAL of its core);
# a Locust figure below this share of wrk's is Locust's own limit.
GENERATOR_WRK_RATIO = 0.85
# A server that used this share of its CPU budget in the window had no CPU to spare: it set the
# pace. Its cost per request still depends on how requests arrive, so two generators can differ
# with neither being the limit.
SERVER_SATURATED = 0.90
# Neighbour noise: CPU time taken from the server's (or Locust's) cores by other processes or,
# on a VM, by the hypervisor (steal), as % of those cores' time over the window. A CPU-bound
# server that loses x% of its cores loses up to x% of its throughput, so the limit sits at
# half of the 10% spread the analysis calls too noisy to rank on (analysis.stats.UNSTABLE_SPREAD):
# a disturbance below it cannot on its own move a number as far (docs/noise.md).
NOISE_LIMIT = 5.0
# A budget is faithful to the whole core when a server's requests per CPU-second there stay within
# this band of its whole core's (wrk, no quota, the same processes): inside it, the budget did not
# bend the server's cost per request by more than the spread the analysis calls too noisy to rank
# on. Measured per run (lab/run/reference.py; docs/budget.md).
FIDELITY_BAND = (0.90, 1.10)
# The core sets the noise guard measures, as a sentence names them.
CORE_OWNERS = {"server": "the server's", "locust": "Locust's"}


def number(value) -> float | None:
    """A finite number, or None (a record from elsewhere may hold anything; NaN is "not measured")."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        return None
    return float(value)


def known(value) -> bool:
    return number(value) is not None


def generator_cores(locust: dict, noise: dict | None) -> dict:
    """How full the generator's cores were in a step (step.json's `locust` and `noise`): all Locust
    processes' CPU over those cores, and everything that ran there (interrupts included: on
    loopback, and more so through Docker's bridge, the kernel's network work runs there)."""
    cores = len(locust.get("cores") or []) or 1
    processes = (locust.get("processes") or {}).get("cpu_percent")
    role = ((noise or {}).get("roles") or {}).get("locust") or {}
    window = (noise or {}).get("window_s")
    busy = None
    if window and role.get("busy_cpu_s") is not None:
        # The noise record keeps interrupt time apart; for the generator it is work on its cores.
        busy = round(100 * (role["busy_cpu_s"] + (role.get("irq_cpu_s") or 0)) / (window * cores), 1)
    return {"cores_cpu_percent": None if not known(processes) else round(processes / cores, 1), "cores_busy_percent": busy}


def generator_load(*percents) -> float | None:
    """How full the generator's cores were: the highest of the measures given (% of a core), None if none."""
    present = [float(p) for p in percents if known(p)]
    return max(present) if present else None


def generator_reason(load, rps, ceiling=None, wrk_rps=None, short_of_goal: bool = False, server_saturated: bool = False) -> str | None:
    """Why the generator, not the target, may have set this number; None when nothing says so."""
    if known(load) and load >= GENERATOR_CPU_LIMIT:
        return f"Locust's cores {load:.0f}% busy (limit {GENERATOR_CPU_LIMIT:.0f}%)"
    if known(ceiling) and known(rps) and ceiling and rps >= (1 - GENERATOR_CEILING_MARGIN) * ceiling:
        return f"{rps:,.0f} req/s is within {GENERATOR_CEILING_MARGIN:.0%} of Locust's own ceiling on this server ({ceiling:,.0f})"
    if known(wrk_rps) and known(rps) and wrk_rps and rps < GENERATOR_WRK_RATIO * wrk_rps and not server_saturated:
        return f"Locust got {rps / wrk_rps:.2f} of wrk's {wrk_rps:,.0f} req/s on the same target (limit {GENERATOR_WRK_RATIO})"
    if short_of_goal:
        return "calibration: at this budget the target needs more of Locust than its headroom allows"
    return None


def generator_bound(load, rps, ceiling=None, wrk_rps=None, short_of_goal: bool = False, server_saturated: bool = False) -> bool:
    """True when the generator, not the target, may have set this number (generator_reason says why)."""
    return generator_reason(load, rps, ceiling, wrk_rps, short_of_goal, server_saturated) is not None


def saturated(server_cpu_percent, cpus) -> bool:
    """Did the server use (nearly) all of its CPU budget?"""
    return known(server_cpu_percent) and known(cpus) and cpus > 0 and server_cpu_percent >= SERVER_SATURATED * 100 * cpus


def fidelity(at_budget, whole_core) -> float | None:
    """Requests per CPU-second at the budget over those on the whole cores; None if either is unknown."""
    at_budget, whole_core = number(at_budget), number(whole_core)
    if at_budget is None or not whole_core or whole_core <= 0:
        return None
    return at_budget / whole_core


def requests_per_cpu_second(rps, cpu_percent) -> float | None:
    """Requests a server served per second of its own CPU: both rates over the same window."""
    rps, cpu_percent = number(rps), number(cpu_percent)
    if rps is None or not cpu_percent or cpu_percent <= 0:
        return None
    return rps / (cpu_percent / 100)


def faithful(value) -> bool | None:
    """Is a fidelity inside FIDELITY_BAND? None: not measured."""
    value = number(value)
    if value is None:
        return None
    return FIDELITY_BAND[0] <= value <= FIDELITY_BAND[1]


def disturbed(foreign_percent, steal_percent) -> bool:
    """True when others took enough of the lab's cores in a step that its numbers should be re-measured."""
    found = [number(v) for v in (foreign_percent, steal_percent) if known(v)]
    return bool(found) and sum(found) >= NOISE_LIMIT


def noise_words(foreign_percent, steal_percent, role) -> str:
    """What took the cores, in words: '42% of the server's cores used by other processes, 0% stolen'."""
    return f"{foreign_percent:.0f}% of {CORE_OWNERS.get(role, role)} cores used by other processes, {steal_percent:.0f}% stolen by the hypervisor"


