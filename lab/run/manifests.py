"""The run's manifest.json: built when the run starts, filled in stage by stage, saved after each,
closed with the run's status. What goes in it is records/run.py's Manifest."""

from importlib.metadata import version
from pathlib import Path

from records import run as records
from records.run import Manifest

from .. import catalog, facts
from ..engines.base import Engine
from ..load.locust import SETTLE_SECONDS, SPAWN_SPEEDUP
from . import calibrate, reference
from .folders import now_iso
from .plan import Plan

EXIT_CODES = {"complete": 0, "partial": 3, "empty": 1, "failed": 2, "interrupted": 130}


class RunManifest:
    """The manifest of one run, kept on disk as it grows."""

    def __init__(self, run_dir: Path, engine_name: str):
        self.path = run_dir / "manifest.json"
        self.record = Manifest(run_id=run_dir.name, started_at=now_iso(), engine=engine_name)

    def save(self) -> None:
        records.write(self.path, self.record)

    def start(self, plan: Plan, engine: Engine, cpu_limit: dict, wrk_path: str | None, budget: dict) -> None:
        """What the run will do and where, before anything is measured."""
        self.record = Manifest(
            run_id=self.record.run_id,
            started_at=self.record.started_at,
            engine=self.record.engine,
            engine_details=engine.describe(),
            profile={**plan.profile.settings, "name": plan.profile.name},
            effective={"users": plan.users, "duration_s": plan.duration, "warmup_s": plan.warmup, "repeats": plan.repeats},
            matrix={"frameworks": [f.name for f in plan.frameworks], "scenarios": [s.name for s in plan.scenarios], "users": plan.users,
                    "repeats": plan.repeats, "order": "interleaved: repeat > scenario > users > framework", "steps": len(plan.steps)},
            cores={"server": plan.server_cores, "locust": plan.locust_cores, "server_cpus": plan.server_cpus, "server_cpu_limit": cpu_limit},
            host=facts.host_facts(),
            git=facts.git_state(),
            locust={
                "version": version("locust"),
                "user_class": "FastHttpUser, no think time",
                "ramp": f"all users started within {1 / SPAWN_SPEEDUP:.2f} s, then {SETTLE_SECONDS} s before the window",
                "ramp_s": 1 / SPAWN_SPEEDUP + SETTLE_SECONDS,
                "window": "stats reset after every worker flushed (locustfiles/_control.py); users stopped, workers flushed at the end",
            },
            scenarios={s.name: {"locustfile": str(s.locustfile.relative_to(catalog.ROOT)), "user_class": s.user_class, "description": s.description}
                       for s in plan.scenarios},
            wrk={"path": wrk_path,
                 "policy": "once per framework and wrk-able scenario, at the highest user level, repeat 1; and on every bare app (its server's ceiling)",
                 "reference": f"before and after every {reference.SCENARIO} step at the highest user level and every {reference.SCENARIO} ceiling: "
                              "the same server on its whole cores, no quota (lab/run/reference.py)"},
            budget=budget,
        )  # fmt: skip
        self.save()

    def finish(self, status: str, timings: dict, reason: str | None = None) -> None:
        manifest = self.record
        manifest.reason = reason or manifest.reason
        manifest.unavailable = manifest.unavailable or {}
        manifest.status, manifest.finished_at, manifest.exit_code = status, now_iso(), EXIT_CODES[status]
        manifest.timings = timings
        self.save()


def fixed_reason(plan: Plan) -> str:
    """Why a run's budget is what it is, until calibration (if any) says otherwise."""
    if plan.calibrate:
        return "calibration pending"
    given = "SERVER_CPUS as given" if plan.budget == "explicit" else "all of the server's cores"
    return f"{given}, not calibrated (profile {plan.profile.name} does not calibrate)"


def initial_budget(plan: Plan) -> dict:
    return calibrate.fixed(plan.server_cpus, fixed_reason(plan))
