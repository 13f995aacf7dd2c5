"""Statistics over repeats, and the flags that say when a number should not be trusted.

The rules live here and nowhere else:
- spread: the interquartile range of the repeats, relative to their median; with fewer than
  FEW_REPEATS repeats, their full range (the quartiles of three numbers hide the odd one out);
- unstable: a spread wider than UNSTABLE_SPREAD (too noisy to rank on);
- generator-bound: the generator may have set the number, not the target. Any of:
  its cores were full: the load on Locust's cores (the highest of a worker's CPU demand, CPU
  time plus time waiting for a core; all Locust processes' CPU over its cores; and everything
  that ran on them, interrupts included) at or above GENERATOR_CPU_LIMIT %;
  throughput within GENERATOR_CEILING_MARGIN of the generator's ceiling (the best Locust got
  from the bare app on the same server, same scenario: the same connection pattern);
  Locust below GENERATOR_WRK_RATIO of wrk's throughput on the same target and connections,
  while the server had CPU to spare (below SERVER_SATURATED of its budget: a server that used
  its whole budget set the pace itself, whatever wrk got from it another time);
  or calibration found the target needs more of the generator than its goal at this budget
  (lab/calibrate.py);
- disturbed: on the server's or Locust's cores, other processes' CPU time plus the
  hypervisor's steal time reached NOISE_LIMIT % of those cores' time in the window
  (measured by lab/noise.py);
- faithful: a target's requests per CPU-second at the run's budget, with the run's generator,
  within FIDELITY_BAND of the same server's on its whole cores with wrk (its fidelity);
- rankable: two results whose interquartile ranges do not overlap;
- beyond spread (comparing runs): the same rule, and unknown with fewer than two repeats a side.
"""

import numpy as np
import pandas as pd

UNSTABLE_SPREAD = 0.10
# Below this many repeats a level's spread is its full range, not its interquartile range.
FEW_REPEATS = 5
GENERATOR_CPU_LIMIT = 90.0
GENERATOR_CEILING_MARGIN = 0.10
# wrk and Locust open the same connections to the same server: when the server sets the pace
# they agree within a few percent (measured with Locust at or below 60% of its core: README,
# "Calibration"); a Locust figure below this share of wrk's is Locust's own limit.
GENERATOR_WRK_RATIO = 0.85
# A server that used this share of its CPU budget in the window had no CPU to spare: it set the
# pace. Its cost per request still depends on how requests arrive (under a quota, measured here:
# fastapi at 0.4 core served Locust 3,500 req/s and wrk 2,800, both at 40% CPU; gunicorn's sync
# workers vary from step to step), so two generators can differ with neither being the limit.
SERVER_SATURATED = 0.90
BOOTSTRAP_SAMPLES = 2000
# Neighbour noise: CPU time taken from the server's (or Locust's) cores by other processes or,
# on a VM, by the hypervisor (steal), as % of those cores' time over the window. A CPU-bound
# server that loses x% of its cores loses up to x% of its throughput, so the limit sits at
# half of UNSTABLE_SPREAD: a disturbance below it cannot on its own move a number as far as
# the spread the lab already calls too noisy to rank on. It is above the floor of an
# undisturbed step: the lab's own unpinned work mis-assigned between the two cores, and
# /proc/stat's 10 ms ticks (measured: README, "The neighbour-noise guard").
NOISE_LIMIT = 5.0
# A budget is faithful to the whole core when a server's requests per CPU-second there stay within
# this band of its whole core's (wrk, no quota, the same processes): inside it, the budget did not
# bend the server's cost per request by more than the spread the lab already calls too noisy to
# rank on (UNSTABLE_SPREAD). Measured per run (lab/reference.py; docs/budget.md).
FIDELITY_BAND = (0.90, 1.10)
# The core sets the noise guard measures, as a sentence names them.
CORE_OWNERS = {"server": "the server's", "locust": "Locust's"}


def summarise(values) -> dict:
    """Median, quartiles, relative spread and a bootstrap 95% interval of the median."""
    data = np.asarray([v for v in values if v is not None and not pd.isna(v)], dtype=float)
    if data.size == 0:
        return {"n": 0, "median": np.nan, "q25": np.nan, "q75": np.nan, "iqr": np.nan, "min": np.nan, "max": np.nan, "spread": np.nan,
                "ci_low": np.nan, "ci_high": np.nan}  # fmt: skip
    median = float(np.median(data))
    q25, q75 = (float(q) for q in np.percentile(data, [25, 75]))
    low, high = bootstrap_median_ci(data)
    width = (q75 - q25) if data.size >= FEW_REPEATS else float(data.max() - data.min())
    return {
        "n": int(data.size),
        "median": median,
        "q25": q25,
        "q75": q75,
        "iqr": q75 - q25,
        "min": float(data.min()),
        "max": float(data.max()),
        # One repeat says nothing about spread: unknown, not zero.
        "spread": width / median if median and data.size >= 2 else np.nan,
        "ci_low": low,
        "ci_high": high,
    }


def bootstrap_median_ci(data: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap of the median; a fixed seed so the same run gives the same report."""
    if data.size < 2:
        return float(data[0]), float(data[0])
    rng = np.random.default_rng(0)
    medians = np.median(rng.choice(data, size=(BOOTSTRAP_SAMPLES, data.size), replace=True), axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(medians, [tail, 100 - tail])
    return float(low), float(high)


def unstable(spread: float, n: int) -> bool:
    return n >= 2 and not pd.isna(spread) and spread > UNSTABLE_SPREAD


def known(value) -> bool:
    return value is not None and not pd.isna(value)


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


def number(value) -> float | None:
    """A finite number, or None (a record from elsewhere may hold anything)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or pd.isna(value) or not np.isfinite(value):
        return None
    return float(value)


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
    known = [v for v in (foreign_percent, steal_percent) if v is not None and not pd.isna(v)]
    return bool(known) and sum(known) >= NOISE_LIMIT


def noise_words(foreign_percent, steal_percent, role) -> str:
    """What took the cores, in words: '42% of the server's cores used by other processes, 0% stolen'."""
    return f"{foreign_percent:.0f}% of {CORE_OWNERS.get(role, role)} cores used by other processes, {steal_percent:.0f}% stolen by the hypervisor"


def rankable(a: dict, b: dict) -> bool:
    """Two summaries can be ranked when their interquartile ranges do not overlap."""
    if a["n"] < 2 or b["n"] < 2:
        return a["n"] > 0 and b["n"] > 0
    return a["q75"] < b["q25"] or b["q75"] < a["q25"]


def beyond_spread(a: dict, b: dict) -> bool | None:
    """Do two summaries differ by more than their repeats' own spread? None: too few repeats to tell."""
    if a["n"] < 2 or b["n"] < 2:
        return None
    return rankable(a, b)
