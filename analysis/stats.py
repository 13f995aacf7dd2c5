"""Statistics over repeats: a level's median and spread, when it is unstable, when two can be ranked.

- spread: the interquartile range of the repeats, relative to their median; with fewer than
  FEW_REPEATS repeats, their full range (the quartiles of three numbers hide the odd one out);
- unstable: a spread wider than UNSTABLE_SPREAD (too noisy to rank on);
- rankable: two results whose interquartile ranges do not overlap;
- beyond spread (comparing runs): the same rule, and unknown with fewer than two repeats a side.

The rules that judge a single step (generator-bound, disturbed, faithful) are records/rules.py's.
"""

import numpy as np
import pandas as pd

UNSTABLE_SPREAD = 0.10
# Below this many repeats a level's spread is its full range, not its interquartile range.
FEW_REPEATS = 5
BOOTSTRAP_SAMPLES = 2000


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
