"""Calibration: the largest server CPU budget at which the generator keeps its headroom.

One Locust core cannot keep up with a full server core here (a Python client pays more per
request than a fast server does), so at a full core the lab would measure Locust, not the
framework. Before the matrix, each target is probed for a few seconds at the run's highest
user level on the run's fastest scenario (json), with the budget the targets start with. One
probe gives two costs:

- the generator's: requests per second its cores would give at 100% (rps over Locust's CPU
  on those cores). It depends on the connection pattern: against a server that closes every
  connection (Gunicorn's sync workers) Locust pays a TCP handshake per request, and gets far
  fewer than over keep-alive;
- the server's: requests per second of server CPU.

At a budget of b cores a target serves about b x (its requests per CPU-second), and needs that
share of the generator's capacity. The chosen budget is the largest rung of the ladder at
which every target needs at most GOAL of it; when even the smallest rung is not enough, the
run goes on there and the targets still short are named (the analysis flags their numbers).
An explicit budget is checked the same way: a warning, not a refusal.

Pure functions over Probe records, so the rules are tested without a server; the probes are
measured by lab/run/steps.py (StepRunner.probe) and the runner (lab/run/bench.py) calls choose().
"""

import http.client
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from records.rules import HEADROOM_GOAL, generator_cores
from records.run import StepRecord, budget_headline

# A target may need at most this share of the generator's capacity (records/rules.py).
GOAL = HEADROOM_GOAL
# Budgets tried, largest first (never more than the server's cores); 0.1 is the smallest budget the
# lab holds a server to (lab/engines/server_cgroup.py MIN_CPUS).
LADDER = (8, 6, 4, 3, 2, 1.5, 1, 0.75, 0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1)
# The measured window of one probe, in seconds: enough for a rate at thousands of req/s.
PROBE_SECONDS = 3
KEEP_ALIVE = "keep-alive"
PER_REQUEST = "connection per request"


@dataclass
class Probe:
    """One target probed: what it served, and what that cost the server and the generator."""

    target: str
    scenario: str
    pattern: str  # KEEP_ALIVE or PER_REQUEST
    rps: float
    server_cpu: float  # cores the server used on average
    locust_cpu: float  # cores the generator's work used on average (Locust's processes, or all on its cores)
    locust_cores: int  # the generator's cores
    budget: float  # the server's budget during the probe

    @property
    def capacity(self) -> float:
        """Requests per second the generator's cores give against this target at 100%."""
        return self.rps / self.locust_cpu * self.locust_cores

    @property
    def per_server_cpu(self) -> float:
        """Requests per second of server CPU."""
        return self.rps / self.server_cpu

    def need(self, cpus: float) -> float:
        """The share of the generator's capacity this target needs at a budget of `cpus` cores."""
        return cpus * self.per_server_cpu / self.capacity

    def largest_budget(self) -> float:
        """The budget at which this target needs exactly GOAL of the generator."""
        return GOAL * self.capacity / self.per_server_cpu


def from_record(record: StepRecord, pattern: str, locust_cores: int, budget: float) -> Probe | str:
    """A Probe from a measured probe window, or why it cannot be one."""
    if record.status != "ok":
        return f"the probe {record.status}: {(record.reason or '').splitlines()[0]}"
    rps = record.locust.get("total_rps") or 0
    failures = record.locust.get("total_failures") or 0
    server = record.server.get("cpu_percent")
    # What the generator costs its cores: Locust's processes, or all that ran there (the kernel's
    # network work for Locust's connections too: more of it through Docker's bridge), the larger.
    load = generator_cores(record.locust, record.noise)
    measured = [v for v in load.values() if v is not None]
    locust = max(measured) * locust_cores if measured else None
    if rps <= 0 or failures:
        return f"the probe served {rps:,.0f} req/s with {failures} failures"
    if not server or not locust:
        return "the probe could not sample the server's or Locust's CPU"
    return Probe(record.framework, record.scenario, pattern, rps, server / 100, locust / 100, locust_cores, budget)


def connection_pattern(url: str, timeout: float = 5) -> str:
    """Does the server at `url` keep a connection open after a response, or close it?"""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("GET", parts.path or "/")
        response = connection.getresponse()
        response.read()
        return PER_REQUEST if response.will_close else KEEP_ALIVE
    finally:
        connection.close()


def ladder(cores: int) -> list[float]:
    """The budgets a run on `cores` server cores may get, largest first."""
    return sorted({float(cores), *(rung for rung in LADDER if rung <= cores)}, reverse=True)


def capacities(probes: list[Probe]) -> dict[str, float]:
    """The generator's capacity per connection pattern (the least found for that pattern)."""
    found: dict[str, float] = {}
    for probe in probes:
        found[probe.pattern] = min(found.get(probe.pattern, probe.capacity), probe.capacity)
    return {pattern: round(value) for pattern, value in found.items()}


def choose(probes: list[Probe], cores: int, unprobed: dict[str, str] | None = None) -> dict:
    """The largest budget on the ladder at which every probed target needs at most GOAL; the budget record."""
    rungs = ladder(cores)
    fits = [rung for rung in rungs if all(p.need(rung) <= GOAL for p in probes)]
    cpus = fits[0] if fits else rungs[-1]
    record = budget_record("auto", cpus, cores, probes, unprobed)
    if not probes:
        record["reason"] = (
            "no target could be probed, so the budget stays at the server's cores and nothing says the generator keeps up"
        )
    elif not fits:
        record["reason"] = (f"even at {cpus:g} core, the smallest budget tried, {describe_short(record)}: "
                            "those numbers are flagged generator-bound; give Locust more cores (LOCUST_CORES)")  # fmt: skip
    else:
        record["reason"] = f"the largest budget on the ladder at which every target needs at most {GOAL:.0%} of Locust's capacity"
    return record


def check(cpus: float, probes: list[Probe], cores: int, unprobed: dict[str, str] | None = None) -> dict:
    """An explicit budget checked like a chosen one: which targets it leaves short of headroom."""
    record = budget_record("explicit", cpus, cores, probes, unprobed)
    auto = choose(probes, cores)["cpus"] if probes else None
    if record["short"]:
        record["reason"] = (f"SERVER_CPUS={cpus:g}: {describe_short(record)}; those numbers are flagged generator-bound"
                            + (f" (calibration would pick {auto:g})" if auto is not None else ""))  # fmt: skip
    else:
        record["reason"] = f"SERVER_CPUS={cpus:g} as given; every target needs at most {GOAL:.0%} of Locust's capacity there"
    return record


def budget_record(mode: str, cpus: float, cores: int, probes: list[Probe], unprobed: dict[str, str] | None) -> dict:
    # A target probed on several scenarios (json and plaintext, in the full profile) needs the most of them.
    needs: dict[str, float] = {}
    short: dict[str, list[str]] = {}
    for p in probes:
        need = p.need(cpus)
        needs[p.target] = max(needs.get(p.target, 0.0), round(need, 3))
        if need > GOAL:
            short.setdefault(p.target, []).append(p.scenario)
    return {
        "mode": mode,
        "cpus": cpus,
        "goal": GOAL,
        "goal_met": bool(probes) and all(need <= GOAL for need in needs.values()),
        "needs": needs,
        # Targets, and the scenarios probed, whose numbers the generator may set at this budget.
        "short": short,
        "capacity_rps": capacities(probes),
        "probes": [
            {
                **asdict(p),
                "capacity_rps": round(p.capacity),
                "rps_per_server_cpu": round(p.per_server_cpu),
                "largest_budget": round(p.largest_budget(), 3),
            }
            for p in probes
        ],  # fmt: skip
        "unprobed": unprobed or {},
        "ladder": ladder(cores),
    }


def describe_short(record: dict) -> str:
    return ", ".join(f"{name} needs {record['needs'][name]:.0%} of Locust's capacity" for name in record["short"])


def headline(record: dict) -> str:
    """One line for the console and the report's header (records/run.py renders it for both)."""
    return budget_headline(record)


def fixed(cpus: float, reason: str) -> dict:
    """The budget record of a run that does not calibrate (the smoke profile, or no CPU quota here)."""
    return {"mode": "fixed", "cpus": cpus, "goal": GOAL, "goal_met": None, "needs": {}, "short": {}, "capacity_rps": {},
            "probes": [], "unprobed": {}, "reason": reason}  # fmt: skip
