"""The open model's arithmetic, shared by the Locust side (locustfiles/_open_model.py loads this
file from where it lies; the Locust image keeps it at the same place) and the lab's side
(`python -m lab latency`, the latency record): the arrival schedule and the HdrHistogram of
latencies, its encoding, merging and percentiles.

Stdlib and hdrh only: no Locust, no gevent, so the tests import it directly.

Latencies are whole microseconds in an HdrHistogram from 1 us to 60 s with 3 significant
digits: any percentile read back is within 0.1% of the recorded value. A latency above 60 s is
recorded as 60 s (the request timeout is far below it).
"""

import random
from collections.abc import Iterator

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 60_000_000
DIGITS = 3
# The percentiles every result reports, keyed as in the JSON ("max" is the largest recorded).
PERCENTILES = ("50", "90", "99", "99.9")
HISTOGRAM_FORMAT = {"unit": "us", "lowest": LOWEST_US, "highest": HIGHEST_US, "significant_digits": DIGITS, "encoding": "HdrHistogram V2, zlib, base64"}
ARRIVALS = ("constant", "poisson")
# Send lag (actual send - intended send) at p99 above which a result is flagged: the generator,
# not the server, then set part of the tail. A burst of answers at the end of a server stall
# costs the generator's loop 10-20 ms on a shared 2-core machine; 50 ms is a generator behind.
LAG_BOUND_MS = 50.0


def histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def record(hist: HdrHistogram, seconds: float) -> None:
    hist.record_value(min(max(round(seconds * 1e6), LOWEST_US), HIGHEST_US))


def encode(hist: HdrHistogram) -> str:
    return hist.encode().decode("ascii")


def decode(encoded: str) -> HdrHistogram:
    """An encoded histogram back; ValueError when it is not one (a shared result is untrusted)."""
    try:
        hist = HdrHistogram.decode(encoded.encode("ascii"))
    except Exception as problem:  # hdrh raises several kinds for bad input (zlib, struct, its own)
        raise ValueError(f"not an encoded HdrHistogram ({str(problem)[:100]})") from None
    if hist is None:
        raise ValueError("not an encoded HdrHistogram")
    return hist


def merge(encoded: list[str]) -> HdrHistogram:
    total = histogram()
    for item in encoded:
        total.add(decode(item))
    return total


def percentiles_ms(hist: HdrHistogram) -> dict[str, float | None]:
    """p50, p90, p99, p99.9 and max in milliseconds; None each when nothing was recorded."""
    if hist.get_total_count() == 0:
        return {key: None for key in (*PERCENTILES, "max")}
    found = {key: hist.get_value_at_percentile(float(key)) / 1000 for key in PERCENTILES}
    found["max"] = hist.get_max_value() / 1000
    return {key: round(value, 3) for key, value in found.items()}


def gaps(rate: float, arrivals: str, seed: int | None = None) -> Iterator[float]:
    """Seconds between one intended send and the next, fixed in advance of any answer: 1/rate
    each (constant), or exponentially distributed with mean 1/rate (Poisson arrivals)."""
    if rate <= 0:
        raise ValueError(f"rate must be above 0, not {rate}")
    if arrivals == "constant":
        while True:
            yield 1 / rate
    elif arrivals == "poisson":
        rng = random.Random(seed)
        while True:
            yield rng.expovariate(rate)
    else:
        raise ValueError(f"arrivals must be one of {', '.join(ARRIVALS)}, not {arrivals!r}")
