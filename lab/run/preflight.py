"""What a run checks and prepares before it measures: cores already busy, the lab's own database,
enough database connections for every target, and whether it can measure its budget's fidelity."""

from records.rules import NOISE_LIMIT, disturbed, noise_words
from records.run import Manifest

from .. import catalog
from ..contract import database
from ..engines import cgroups
from ..engines.base import Engine
from ..errors import LabError
from . import noise_sampler as noise
from .console import say, warn
from .plan import Plan
from .targets import TargetSet


def check_cores_idle(plan: Plan, manifest: Manifest) -> None:
    """Before any target starts: if other processes already keep the lab's cores busy, say so now,
    not after the run (the run goes on: it is a warning, and the steps are checked one by one)."""
    before = noise.busy_before({"server": plan.server_cores, "locust": plan.locust_cores})
    if before is None:
        return
    manifest.host["busy_before_run"] = before
    if disturbed(before["foreign_percent"], before["steal_percent"]):
        role = before["worst_role"]
        busiest = ", ".join(before["busiest"]) or "no single process stands out"
        warn(f"warning: the lab's cores are already busy before the run, cores {before['roles'][role]['cores']}: "
             f"{noise_words(before['foreign_percent'], before['steal_percent'], role)} (limit {NOISE_LIMIT:.0f}%; busiest: {busiest}); "
             f"steps measured like this are marked disturbed")  # fmt: skip


def prepare_database(engine: Engine, plan: Plan, manifest: Manifest) -> str | None:
    """The lab's own database on the engine's PostgreSQL, created and seeded for this run.

    If it cannot be, the run goes on: each target's /health then says the same, and only
    the database steps are skipped.
    """
    server = engine.database_server()
    url = database.with_database(server, database.BENCH_DATABASE)
    record = {"url": database.redact(url), "schema": str(database.SCHEMA.relative_to(catalog.ROOT))}
    try:
        database.prepare(server)
        record.update(available=True, **database.describe(url))
        say(f"database {record['url']}: created and seeded, PostgreSQL {record['server_version']}")
    except LabError as problem:
        record.update(available=False, reason=str(problem))
        if any(s.database for s in plan.scenarios):
            warn(f"database unavailable: {problem} — the database steps will be skipped")
    manifest.database = record
    return url


def connections_problem(targets: dict, max_connections) -> str | None:
    """The targets stay up for the whole run, each holding up to its workers' connections (pools
    fill as load comes): more in all than PostgreSQL allows, and a later target's queries fail."""
    wanted = {name: (record.get("database") or {}).get("connections") or 0 for name, record in targets.items()}
    try:
        limit = int(max_connections)
    except (TypeError, ValueError):
        return None
    if sum(wanted.values()) <= limit:
        return None
    largest = ", ".join(f"{name} {count}" for name, count in sorted(wanted.items(), key=lambda item: -item[1])[:3])
    return (f"the targets may hold {sum(wanted.values())} database connections in all (largest: {largest}), more than "
            f"PostgreSQL's max_connections of {limit}: run fewer targets at once (FRAMEWORKS=...), a smaller budget, or raise max_connections")  # fmt: skip


def fidelity_problem(plan: Plan, wrk_path: str | None, targets: TargetSet) -> str | None:
    """Why the run cannot measure its budget's fidelity (lab/run/reference.py), or None."""
    if not plan.profile.settings.get("wrk", True):
        return f"profile {plan.profile.name} runs no wrk"
    if not wrk_path:
        return "wrk is not installed (apt-get install wrk)"
    ready = [targets.targets[name] for name in targets.targets if targets.ready(name)]
    if ready and ready[0].cpu_seconds() is None:
        return f"the servers' CPU cannot be read from their cgroups here ({cgroups.no_route_reason() or 'no cgroup accounting'})"
    return None
