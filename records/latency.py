"""An open-model latency result (`make latency`, locustfiles/_open_model.py) as a versioned
dataclass: written and read back through this module only; a version it does not know is
refused, not misread.

The encoded HdrHistogram is kept whole (`histogram`, microseconds, format in `histogram_format`),
so any percentile can be recomputed later (lab/load/openmodel.py decodes it); `percentiles_ms`
holds p50, p90, p99, p99.9 and max as computed when the result was written. `flags` says why a
result is not a faithful measurement of the rate asked (send lag over its bound, a rate not
kept); an empty list means none was found.

    version 1   the first layout

Stdlib only, as the rest of records/.
"""

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .files import RecordError, read_json, write_json

LATENCY_VERSION = 1
KNOWN_VERSIONS = (1,)
PERCENTILE_KEYS = ("50", "90", "99", "99.9", "max")


@dataclass
class LatencyResult:
    url: str
    rate_asked: float
    rate_achieved: float | None
    duration_s: float
    arrivals: str  # constant or poisson
    max_in_flight: int
    send_lag_ms: float | None  # p99 of (actual send - intended send)
    send_lag_max_ms: float | None
    send_lag_bound_ms: float
    requests: int  # sent
    ok: int
    errors: int
    timeouts: int
    capped: int  # requests that waited for the in-flight cap (their latency includes the wait)
    unanswered: int  # still out when the test ended and its drain time ran out
    percentiles_ms: dict  # "50", "90", "99", "99.9", "max"
    histogram: str
    send_lag_histogram: str
    histogram_format: dict = field(default_factory=dict)
    flags: list = field(default_factory=list)
    workers: int = 1
    started_at: str | None = None
    latency_version: int = LATENCY_VERSION


def write(path: Path, result: LatencyResult) -> None:
    write_json(path, asdict(result))


def read(path: Path) -> LatencyResult:
    data = read_json(path)
    version = data.get("latency_version")
    if version not in KNOWN_VERSIONS:
        raise RecordError(f"{path}: latency_version {version!r} is not one this lab knows ({', '.join(map(str, KNOWN_VERSIONS))})")
    known = {f.name for f in fields(LatencyResult)}
    try:
        result = LatencyResult(**{key: value for key, value in data.items() if key in known})
    except TypeError as problem:
        raise RecordError(f"{path}: missing or bad field ({problem})") from None
    if not isinstance(result.percentiles_ms, dict) or set(result.percentiles_ms) != set(PERCENTILE_KEYS):
        raise RecordError(f"{path}: percentiles_ms should hold exactly {', '.join(PERCENTILE_KEYS)}")
    if not isinstance(result.histogram, str) or not isinstance(result.flags, list):
        raise RecordError(f"{path}: histogram should be a string and flags a list")
    return result
