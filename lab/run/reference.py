"""The whole-core reference, and the fidelity of the run's budget: does the method bend the answer?

A fractional budget (a CPU quota) is how one Locust core keeps headroom over a server, but a
quota can change what a request costs the server: how often it is stopped and started, how
its processes share the core, how warm the core is when it comes back. Each moves the
frameworks' ratios, and nothing in a number says by how much. So every run also measures each
target of the json scenario, and each bare app, on its whole cores with no quota, with wrk (a
C client that is never the limit here: 35,000 req/s from bare Uvicorn on one core of this kind
of machine), right before and right after each of its measured windows at the run's highest
level: the mean of the two cancels a machine that drifts in between (a shared VM moves by 10-20%
within a minute). It is the same server, the same processes: the quota is lifted for wrk and set
again for the window (Target.limit), and the idle fillers pause meanwhile (lab/engines/filler.py).

    fidelity = requests per CPU-second at the budget, with a generator (wrk, or Locust)
               / requests per CPU-second on the whole cores, with wrk

wrk's (a window at the budget in every repeat, between the two references: lab/run/steps.py)
isolates what the budget does, and the blog's json claims are judged on it. Locust's also carries
what Locust's way of sending costs the server: Gunicorn 27's sync workers wait for the client to
close each connection (RFC 9112's graceful close), and a Python client closes later than a C one,
so each request costs them more context switches (docs/budget.md, "The generator").

A budget whose wrk fidelity stays within records.rules.FIDELITY_BAND (0.90-1.10) served each
request at the whole core's cost; the verdicts rest only on such numbers (analysis/claims.py).
The server's CPU comes from its cgroup's accounting (exact); where the engine cannot read it,
or wrk is missing, fidelity is not measured and the run says why.
"""

from statistics import mean, median

from records.rules import FIDELITY_BAND, faithful, fidelity, requests_per_cpu_second
from records.run import StepRecord

from ..engines.base import Target
from ..load import wrk

# The scenario whose steps get a reference: the blog's "simple JSON endpoint", which every target
# and bare app answers, and which wrk can replay.
SCENARIO = "json"
# wrk's window each side of a step, at most (the step's own when shorter): tens of thousands of
# requests on this kind of machine, and the shorter it is, the less the machine drifts meanwhile.
SECONDS = 3.0


def measure(target: Target, path: str, connections: int, seconds: float, cores: list[int], budget: float, filler=None) -> dict:
    """wrk against `target` on its whole cores, no quota, then the budget back; the record of it."""
    if filler:
        filler.pause()
    try:
        limit = target.limit(None)
        found = wrk.run(target.url + path, connections, seconds, cores, cpu=target.cpu_seconds)
    finally:
        target.limit(budget)
        if filler:
            filler.resume()
    return {"cpu_limit": limit, "cores": cores, **found}


def bracket(before: dict | None, after: dict | None) -> dict:
    """A step's reference: wrk before and after its window, and their mean where both measured."""
    sides = [side for side in (before, after) if side and side.get("requests_per_cpu_s")]
    found = {"before": before, "after": after}
    if sides:
        found["requests_per_s"] = round(mean(side["requests_per_s"] for side in sides), 1)
        found["requests_per_cpu_s"] = round(mean(side["requests_per_cpu_s"] for side in sides), 1)
        found["cpu_limit"] = sides[0].get("cpu_limit")
    else:
        found["problem"] = "; ".join(str(side.get("problem")) for side in (before, after) if side and side.get("problem")) or "not measured"
    return found


def step_fidelity(record: StepRecord, generator: str = "locust") -> float | None:
    """One step's fidelity: its requests per CPU-second at the budget, measured by `generator` ("wrk":
    the window after Locust's, the judged figure; "locust": the step's own window), over its reference's.
    A bare app's figure at the budget is always wrk's (Locust cannot reach it)."""
    whole = (record.reference or {}).get("requests_per_cpu_s")
    if generator == "wrk" or record.kind == "ceiling":
        return fidelity((record.wrk or {}).get("requests_per_cpu_s"), whole)
    return fidelity(requests_per_cpu_second(record.locust.get("total_rps"), record.server.get("cpu_percent")), whole)


def summary(records: list[StepRecord], budget: float) -> dict:
    """Per target: its steps' fidelities (wrk's, the judged figure, and Locust's), their medians and
    whether they hold; for manifest.fidelity."""
    per_target: dict[str, dict] = {}
    for record in records:
        if record.status != "ok" or not record.reference or record.scenario != SCENARIO:
            continue
        entry = per_target.setdefault(record.framework, {"kind": record.kind, "wrk_fidelities": [], "fidelities": [], "whole_core_rps": [], "whole_core_per_cpu_s": []})
        for key, generator in (("wrk_fidelities", "wrk"), ("fidelities", "locust")):
            value = step_fidelity(record, generator)
            if value is not None:
                entry[key].append(value)
        entry["whole_core_rps"].append(record.reference.get("requests_per_s"))
        entry["whole_core_per_cpu_s"].append(record.reference.get("requests_per_cpu_s"))
    for entry in per_target.values():
        # Unrounded: the report takes the same median of the same steps, and must print the same digits.
        for key, found in (("wrk_fidelity", entry["wrk_fidelities"]), ("fidelity", entry["fidelities"])):
            entry[key] = median(found) if found else None
        entry["wrk_faithful"] = faithful(entry["wrk_fidelity"])
        entry["faithful"] = faithful(entry["fidelity"])
        for key in ("whole_core_rps", "whole_core_per_cpu_s"):
            values = [v for v in entry[key] if v]
            entry[key] = round(median(values), 1) if values else None
    return {"measured": True, "budget": budget, "band": list(FIDELITY_BAND), "targets": per_target}


def not_measured(reason: str) -> dict:
    return {"measured": False, "reason": reason, "targets": {}}
