"""Statistics over repeats, and the flags that say when a number should not be trusted.

The rules live here and nowhere else:
- spread: the interquartile range of the repeats, relative to their median;
- unstable: a spread wider than UNSTABLE_SPREAD (too noisy to rank on);
- generator-bound: Locust's CPU demand (CPU time plus time waiting for a core) at or
  above GENERATOR_CPU_LIMIT % of one core, or
  throughput within GENERATOR_CEILING_MARGIN of the generator ceiling (the best a
  bare app achieved with the same generator, same scenario);
- disturbed: on the server's or Locust's cores, other processes' CPU time plus the
  hypervisor's steal time reached NOISE_LIMIT % of those cores' time in the window
  (measured by lab/noise.py);
- rankable: two results whose interquartile ranges do not overlap;
- beyond spread (comparing runs): the same rule, and unknown with fewer than two repeats a side.
"""

import numpy as np
import pandas as pd

UNSTABLE_SPREAD = 0.10
GENERATOR_CPU_LIMIT = 90.0
GENERATOR_CEILING_MARGIN = 0.10
BOOTSTRAP_SAMPLES = 2000
# Neighbour noise: CPU time taken from the server's (or Locust's) cores by other processes or,
# on a VM, by the hypervisor (steal), as % of those cores' time over the window. A CPU-bound
# server that loses x% of its cores loses up to x% of its throughput, so the limit sits at
# half of UNSTABLE_SPREAD: a disturbance below it cannot on its own move a number as far as
# the spread the lab already calls too noisy to rank on. It is above the floor of an
# undisturbed step: the lab's own unpinned work mis-assigned between the two cores, and
# /proc/stat's 10 ms ticks (measured: README, "The neighbour-noise guard").
NOISE_LIMIT = 5.0
# The core sets the noise guard measures, as a sentence names them.
CORE_OWNERS = {"server": "the server's", "locust": "Locust's"}


def summarise(values) -> dict:
    """Median, quartiles, relative spread and a bootstrap 95% interval of the median."""
    data = np.asarray([v for v in values if v is not None and not pd.isna(v)], dtype=float)
    if data.size == 0:
        return {"n": 0, "median": np.nan, "q25": np.nan, "q75": np.nan, "iqr": np.nan, "spread": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    median = float(np.median(data))
    q25, q75 = (float(q) for q in np.percentile(data, [25, 75]))
    low, high = bootstrap_median_ci(data)
    return {
        "n": int(data.size),
        "median": median,
        "q25": q25,
        "q75": q75,
        "iqr": q75 - q25,
        # One repeat says nothing about spread: unknown, not zero.
        "spread": (q75 - q25) / median if median and data.size >= 2 else np.nan,
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


def generator_bound(locust_cpu_percent, rps, ceiling) -> bool:
    """True when the generator, not the target, may have set this number."""
    if locust_cpu_percent is not None and not pd.isna(locust_cpu_percent) and locust_cpu_percent >= GENERATOR_CPU_LIMIT:
        return True
    if ceiling is None or pd.isna(ceiling) or rps is None or pd.isna(rps):
        return False
    return rps >= (1 - GENERATOR_CEILING_MARGIN) * ceiling


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
