"""The runner: plan -> engine -> database -> Locust -> targets -> budget -> ceilings -> steps -> results tree.

Bench only sequences; each stage is a collaborator of its own: lab/run/plan.py (options, matrix,
cores), lab/engines/ (what runs the servers and Locust), lab/run/preflight.py (busy cores, the
database, whether fidelity can be measured), lab/run/targets.py (targets and the contract gate),
lab/run/budget.py (calibration and the quota), lab/run/steps.py (one step, with its whole-core
reference), lab/run/manifests.py (manifest.json as the run grows).

Exit codes (also in the manifest, with its status): 0 complete, every step measured; 3 partial,
some steps skipped or failed; 1 empty, nothing measured; 2 failed (refused, or the lab could not
start: the manifest's reason says why); 130 interrupted.
"""

import time
from contextlib import ExitStack
from pathlib import Path

from records.run import StepRecord

from ..engines import ENGINES, make_engine
from ..engines.filler import IdleFiller
from ..errors import LabError
from ..load import wrk
from ..settings import GeneratorSettings, from_env
from . import folders, preflight, reference, stages
from .budget import Budget
from .console import say, say_disturbed, say_fidelity, warn
from .manifests import EXIT_CODES, RunManifest, initial_budget
from .plan import Options, make_plan
from .signals import interruptible
from .steps import StepRunner
from .targets import ConformanceGate, TargetSet

__all__ = ["EXIT_CODES", "Bench"]


class Bench:
    """One run of the plan, from an engine's factory and a contract gate (both passed in: tests give fakes)."""

    def __init__(self, options: Options, engine_factory=make_engine, gate=None, settings: GeneratorSettings | None = None):
        # Everything that can be refused is refused here, before a folder or a process exists.
        if options.engine not in ENGINES:
            raise LabError(f"unknown engine {options.engine!r}; valid: auto, {', '.join(ENGINES)}")
        self.options, self.engine_name = options, options.engine
        self.settings = settings or from_env()
        self.plan = make_plan(options)
        self.budget = Budget(self.plan, self.engine_name)
        self.engine_factory, self.gate = engine_factory, gate or ConformanceGate()
        self.wrk_path = wrk.available() if self.plan.profile.settings.get("wrk", True) and ENGINES[self.engine_name].wrk_from_host else None
        self.records: list[StepRecord] = []
        self.timings: dict[str, float] = {}
        self._clock = time.monotonic()

    @property
    def cpu_limit(self) -> dict:
        return self.budget.cpu_limit

    def check_cores_idle(self, manifest) -> None:
        preflight.check_cores_idle(self.plan, manifest)

    def lap(self, name: str) -> None:
        self.timings[name] = round(time.monotonic() - self._clock, 1)
        self._clock = time.monotonic()

    def run(self) -> tuple[Path, str]:
        """Run the plan; the run folder and its status (complete, partial, empty, failed, interrupted)."""
        run_dir = folders.new_run_dir(self.options.results, self.plan.profile.name, self.engine_name)
        try:
            engine = self.engine_factory(self.engine_name, run_dir, self.settings)
            # Before `with engine`: a refused sweep (another run is live) must not close what is running.
            for line in engine.sweep():
                say(line)
        except BaseException:
            folders.reserve(run_dir).unlink(missing_ok=True)
            run_dir.rmdir()  # nothing ran: leave no empty run folder
            raise
        manifest, status, reason = RunManifest(run_dir, self.engine_name), "empty", None
        try:
            with interruptible(), engine:
                self.measure(engine, run_dir, manifest)
            say_disturbed(self.records)
            status = self.status()
        except KeyboardInterrupt:
            warn("interrupted: stopping targets and Locust; the finished steps are kept")
            status = "interrupted"
            raise
        except LabError as problem:
            status, reason = "failed", str(problem)
            raise
        except OSError as problem:
            if not folders.disk_error(problem, self.options.results):
                raise
            # The results disk (full, read-only, gone): one line, and the run recorded as failed.
            status, reason = "failed", f"cannot write the results: {problem.strerror or problem}" + (f" ({problem.filename})" if problem.filename else "")
            raise LabError(reason) from None
        finally:
            self.lap("cleanup_s")
            folders.reserve(run_dir).unlink(missing_ok=True)  # the room for this last write on a full disk
            try:
                manifest.finish(status, self.timings, reason)
            except OSError as problem:
                warn(f"the run's end could not be recorded in {manifest.path}: {problem.strerror or problem}")
        return run_dir, status

    def measure(self, engine, run_dir: Path, manifest: RunManifest) -> None:
        """The stages, each in the order the data flows; what they start is closed by the ExitStack."""
        plan, record = self.plan, manifest.record
        if engine.setup_note:
            say(engine.setup_note)
        engine.setup()
        self.lap("setup_s")
        manifest.start(plan, engine, self.budget.cpu_limit, self.wrk_path, initial_budget(plan))
        record = manifest.record
        say(f"run {run_dir.name}: {len(plan.steps)} steps, profile {plan.profile.name}, engine {self.engine_name}")
        say(f"results: {run_dir}")
        preflight.check_cores_idle(plan, record)
        database_url = preflight.prepare_database(engine, plan, record)
        say(f"starting Locust: a master and its workers on cores {plan.locust_cores}")
        with ExitStack() as stack:
            generator = stack.enter_context(engine.generator(plan.locust_cores))
            record.locust.update(generator.describe())
            manifest.save()
            say(f"Locust web UI: {generator.web_url} (watch the run live)")
            self.lap("locust_start_s")
            self.plan_times()
            targets = stack.enter_context(TargetSet(engine, plan.frameworks, plan.server_cores, database_url, self.gate, self.options.health_timeout,
                                                    any(s.database for s in plan.scenarios), say, with_baselines=plan.ceilings))  # fmt: skip
            self.record_targets(targets, manifest)
            problem = engine.fidelity_problem() or preflight.fidelity_problem(plan, self.wrk_path, targets)
            stack.callback(self.record_fidelity, manifest, problem)
            if problem:
                warn(f"fidelity not measured: {problem}")
            steps = StepRunner(run_dir, plan, targets, generator, database_url, self.wrk_path, engine=self.engine_name, with_reference=problem is None)
            if plan.calibrate:
                self.budget.choose(targets, steps, record)
                self.lap("calibration_s")
            self.budget.hold(targets, record)
            steps.filler = stack.enter_context(IdleFiller(plan.server_cores, run_dir / "targets")) if self.budget.fractional else None
            record.cores["filler"] = steps.filler.describe() if steps.filler else {"none": "the budget is the server's whole cores"}
            manifest.save()
            stages.ceilings(plan, steps, targets, into=self.records)
            self.lap("ceilings_s")
            stages.steps(plan, steps, bool(self.wrk_path), into=self.records)
            self.lap("steps_s")
            # The latency pass is kept apart from the records that make the run's status (its own folder, latency/).
            stages.latency(plan, steps, targets, self.records, into=[])
            self.lap("latency_s")
            stages.profiles(plan, steps, targets, into=self.records)
            self.lap("profiles_s")

    def plan_times(self) -> None:
        plan, wrk_on = self.plan, bool(self.wrk_path)
        planned = {"calibration": plan.calibration_seconds(), "ceilings": plan.ceiling_seconds(wrk_on), "steps": plan.step_seconds(wrk_on),
                   "profiles": plan.profile_seconds()}  # fmt: skip
        self.timings.update({f"planned_{name}_s": round(seconds, 1) for name, seconds in planned.items()})
        say(f"measuring: about {sum(planned.values()) / 60:.1f} min")

    def record_targets(self, targets: TargetSet, manifest: RunManifest) -> None:
        record = manifest.record
        record.targets, record.baselines = targets.records["targets"], targets.records["baselines"]
        record.unavailable = targets.unavailable
        manifest.save()
        self.lap("targets_s")
        problem = preflight.connections_problem(record.targets, (record.database or {}).get("max_connections"))
        if problem:
            warn(f"warning: {problem}")

    def record_fidelity(self, manifest: RunManifest, problem: str | None) -> None:
        found = reference.not_measured(problem) if problem else reference.summary(self.records, self.plan.server_cpus)
        manifest.record.fidelity = found
        say_fidelity(found)

    def status(self) -> str:
        measured = [r for r in self.records if r.kind == "step" and r.status == "ok"]
        if not measured:
            return "empty"
        return "complete" if len(measured) == len(self.plan.steps) else "partial"
