"""The runner: plan -> engine -> database -> targets -> Locust -> ceilings -> steps -> results tree.

Bench only sequences; each stage has its own module: lab/plan.py (options, matrix, cores),
lab/engine.py (what an engine provides; lab/local.py and lab/docker.py), lab/targets.py
(targets and the conformance gate), lab/step.py (one step), lab/locust.py (one measured
window on the run's Locust master), lab/records.py (manifest.json and step.json).

Exit codes (also in the manifest, with its status): 0 complete, every step measured; 3 partial,
some steps skipped or failed; 1 empty, nothing measured; 2 failed (refused, or the lab could not
start: the manifest's reason says why); 130 interrupted.
"""

import signal
import time
from contextlib import nullcontext
from importlib.metadata import version
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from analysis.stats import NOISE_LIMIT, disturbed, generator_cores, generator_load, noise_words

from . import calibrate, catalog, cpu_quota, database, noise, records, reference, results, wrk
from .catalog import LabError
from .docker import DockerEngine, choose_engine
from .engine import Engine
from .filler import IdleFiller
from .local import LocalEngine
from .locust import SETTLE_SECONDS, SPAWN_SPEEDUP
from .plan import Options, Plan, make_plan
from .records import Manifest
from .settings import GeneratorSettings, from_env
from .step import StepRunner
from .targets import ConformanceGate, TargetSet

console = Console(highlight=False, soft_wrap=True)

ENGINES = {"local": LocalEngine, "docker": DockerEngine}
EXIT_CODES = {"complete": 0, "partial": 3, "empty": 1, "failed": 2, "interrupted": 130}


def say(text: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}")


def make_engine(name: str, run_dir: Path, settings: GeneratorSettings) -> Engine:
    if name not in ENGINES:
        raise LabError(f"unknown engine {name!r}; valid: auto, {', '.join(ENGINES)}")
    return ENGINES[name](run_dir, settings)


def interrupt_once(signum, frame):
    """The first SIGINT or SIGTERM stops the run; later ones are ignored, so the cleanup that
    follows is not cut short (`make` passes a Ctrl-C on to the runner: two often arrive)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


class interruptible:
    """SIGINT and SIGTERM stop what runs inside, once (interrupt_once); the old handlers come back after."""

    def __enter__(self):
        self.previous = {signum: signal.signal(signum, interrupt_once) for signum in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


class Bench:
    def __init__(self, options: Options, engine_factory=make_engine, gate=None, settings: GeneratorSettings | None = None):
        # Everything that can be refused is refused here, before a folder or a process exists.
        self.settings = settings or from_env()
        self.plan: Plan = make_plan(options)
        if options.engine not in ENGINES and options.engine != "auto":
            raise LabError(f"unknown engine {options.engine!r}; valid: auto, {', '.join(ENGINES)}")
        # "auto": docker when a Docker engine answers, else local; "docker" with no engine is refused here.
        self.engine_name = choose_engine(options.engine, say) if engine_factory is make_engine else options.engine
        # How the engine will hold the server to its CPU budget; refused here when it cannot.
        self.cpu_limit = ENGINES[self.engine_name].cpu_limit(self.plan.server_cpus, self.plan.server_cores)
        # Calibration picks fractions: with no CPU quota here it cannot, and the run keeps all the cores.
        self.quota_problem = None
        if self.plan.budget == "auto":
            try:
                ENGINES[self.engine_name].cpu_limit(calibrate.LADDER[-1], self.plan.server_cores)
            except LabError as problem:
                self.quota_problem = str(problem)
        self.options = options
        self.engine_factory = engine_factory
        self.gate = gate or ConformanceGate()
        self.wrk_path = wrk.available() if self.plan.profile.settings.get("wrk", True) else None
        self.records: list[records.StepRecord] = []

    # -- the manifest ---------------------------------------------------------------------

    def base_manifest(self, run_dir: Path, engine: Engine) -> Manifest:
        plan = self.plan
        return Manifest(
            run_id=run_dir.name,
            started_at=results.now_iso(),
            engine=self.engine_name,
            engine_details=engine.describe(),
            profile={**plan.profile.settings, "name": plan.profile.name},
            effective={"users": plan.users, "duration_s": plan.duration, "warmup_s": plan.warmup, "repeats": plan.repeats},
            matrix={
                "frameworks": [f.name for f in plan.frameworks],
                "scenarios": [s.name for s in plan.scenarios],
                "users": plan.users,
                "repeats": plan.repeats,
                "order": "interleaved: repeat > scenario > users > framework",
                "steps": len(plan.steps),
            },
            cores={"server": plan.server_cores, "locust": plan.locust_cores, "server_cpus": plan.server_cpus, "server_cpu_limit": self.cpu_limit},
            host=results.host_facts(),
            git=results.git_state(),
            locust={
                "version": version("locust"),
                "user_class": "FastHttpUser, no think time",
                "ramp": f"all users started within {1 / SPAWN_SPEEDUP:.2f} s, then {SETTLE_SECONDS} s before the window",
                "ramp_s": 1 / SPAWN_SPEEDUP + SETTLE_SECONDS,
                "window": "stats reset after every worker flushed (locustfiles/_control.py); users stopped, workers flushed at the end",
            },
            scenarios={s.name: {"locustfile": str(s.locustfile.relative_to(catalog.ROOT)), "user_class": s.user_class, "description": s.description}
                       for s in plan.scenarios},  # fmt: skip
            wrk={"path": self.wrk_path,
                 "policy": "once per framework and wrk-able scenario, at the highest user level, repeat 1; "
                          "and on every bare app (its server's ceiling)",
                 "reference": f"before every {reference.SCENARIO} step at the highest user level and every {reference.SCENARIO} ceiling: "
                              "the same server on its whole cores, no quota (lab/reference.py)"},  # fmt: skip
            budget=calibrate.fixed(plan.server_cpus, self.fixed_reason()),
        )

    def fixed_reason(self) -> str:
        """Why a run's budget is what it is, until calibration (if any) says otherwise."""
        plan = self.plan
        if plan.calibrate:
            return "calibration pending"
        given = "SERVER_CPUS as given" if plan.budget == "explicit" else "all of the server's cores"
        return f"{given}, not calibrated (profile {plan.profile.name} does not calibrate)"

    def save(self, run_dir: Path, manifest: Manifest) -> None:
        records.write(run_dir / "manifest.json", manifest)

    # -- stages -------------------------------------------------------------------------------

    def check_cores_idle(self, manifest: Manifest) -> None:
        """Before any target starts: if other processes already keep the lab's cores busy, say so now,
        not after the run (the run goes on: it is a warning, and the steps are checked one by one)."""
        before = noise.busy_before({"server": self.plan.server_cores, "locust": self.plan.locust_cores})
        if before is None:
            return
        manifest.host["busy_before_run"] = before
        if disturbed(before["foreign_percent"], before["steal_percent"]):
            role = before["worst_role"]
            busiest = ", ".join(before["busiest"]) or "no single process stands out"
            console.print(
                f"[bold yellow]warning: the lab's cores are already busy before the run, cores {before['roles'][role]['cores']}: "
                f"{noise_words(before['foreign_percent'], before['steal_percent'], role)} (limit {NOISE_LIMIT:.0f}%; busiest: {busiest}); "
                f"steps measured like this are marked disturbed[/]"
            )

    def prepare_database(self, engine: Engine, manifest: Manifest) -> str | None:
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
            if any(s.database for s in self.plan.scenarios):
                console.print(f"[bold yellow]database unavailable: {problem}[/] — the database steps will be skipped")
        manifest.database = record
        return url

    def start_targets(self, engine: Engine, database_url: str | None, manifest: Manifest) -> TargetSet:
        """Every target on its whole cores, healthy and through the gate (stop() them when done).

        The run's budget is set on the running servers later (TargetSet.limit), so the same
        processes are measured on their whole cores (the reference) and at the budget."""
        plan = self.plan
        targets = TargetSet(engine, plan.frameworks, plan.server_cores, database_url, self.gate, self.options.health_timeout,
                            any(s.database for s in plan.scenarios), say, with_baselines=plan.ceilings)  # fmt: skip
        targets.__enter__()
        manifest.targets, manifest.baselines = targets.records["targets"], targets.records["baselines"]
        manifest.unavailable = targets.unavailable
        self.save(self.run_dir, manifest)
        problem = connections_problem(manifest.targets, (manifest.database or {}).get("max_connections"))
        if problem:
            console.print(f"[bold yellow]warning: {problem}[/]")
        return targets

    def fidelity_problem(self, targets: TargetSet) -> str | None:
        """Why the run cannot measure its budget's fidelity (lab/reference.py), or None."""
        if not self.plan.profile.settings.get("wrk", True):
            return f"profile {self.plan.profile.name} runs no wrk"
        if not self.wrk_path:
            return "wrk is not installed (apt-get install wrk)"
        ready = [targets.targets[name] for name in targets.targets if targets.ready(name)]
        if ready and ready[0].cpu_seconds() is None:
            return f"the servers' CPU cannot be read from their cgroups here ({cpu_quota.no_route_reason() or 'no cgroup accounting'})"
        return None

    def choose_budget(self, targets: TargetSet, steps: StepRunner, manifest: Manifest) -> None:
        """Probe every framework on its whole cores and pick (or check) the budget."""
        plan = self.plan
        if self.quota_problem:
            manifest.budget = calibrate.fixed(plan.server_cpus, f"not calibrated: {self.quota_problem}")
            console.print(f"[bold yellow]{calibrate.headline(manifest.budget)}[/]")
            return
        probes, unprobed = [], {}
        users = max(plan.users)
        cores = len(plan.server_cores)
        say(f"calibrating: each framework for {calibrate.PROBE_SECONDS} s at u={users} on its whole {cores} core(s)")
        for framework in plan.frameworks:
            for scenario in plan.ceiling_scenarios():
                found = self.probe(steps, targets, framework.name, scenario, users)
                if isinstance(found, str):
                    unprobed[framework.name] = found
                else:
                    probes.append(found)
        record = calibrate.choose(probes, cores, unprobed) if plan.budget == "auto" else calibrate.check(plan.server_cpus, probes, cores, unprobed)
        manifest.budget = record
        # Short of the goal is a warning the person must see, not a refusal.
        console.print(calibrate.headline(record), style=None if record["goal_met"] else "bold yellow")
        plan.server_cpus = record["cpus"]
        self.save(steps.run_dir, manifest)

    def hold_budget(self, targets: TargetSet, manifest: Manifest) -> None:
        """The run's budget on every running target (a quota below its cores), recorded."""
        plan = self.plan
        self.cpu_limit = ENGINES[self.engine_name].cpu_limit(plan.server_cpus, plan.server_cores)
        manifest.cores.update(server_cpus=plan.server_cpus, server_cpu_limit=self.cpu_limit)
        targets.limit(plan.server_cpus)
        if plan.server_cpus < len(plan.server_cores):
            say(f"every target held to {plan.server_cpus:g} core(s) of {len(plan.server_cores)} (a CPU quota per {cpu_quota.PERIOD_US // 1000} ms)")
        self.save(self.run_dir, manifest)

    def probe(self, steps: StepRunner, targets: TargetSet, name: str, scenario, users: int) -> calibrate.Probe | str:
        """One target probed, or why it could not be."""
        if not targets.ready(name):
            return f"not running: {targets.unavailable.get(name, '?').splitlines()[0]}"
        try:
            pattern = calibrate.connection_pattern(targets.targets[name].url + (scenario.wrk_path or "/json"))
        except OSError as problem:
            return f"no answer on {scenario.wrk_path}: {problem}"
        found = calibrate.from_record(steps.probe(name, scenario, users), pattern, len(self.plan.locust_cores), float(len(self.plan.server_cores)))
        if isinstance(found, str):
            say(f"probe {name} {scenario.name}: [yellow]{found}[/]")
        else:
            say(f"probe {name} {scenario.name} ({found.pattern}): {found.rps:,.0f} req/s, server {found.server_cpu:.2f} core, "
                f"Locust {found.locust_cpu:.2f} core -> Locust's capacity {found.capacity:,.0f} req/s, "
                f"{found.per_server_cpu:,.0f} req per server CPU-second, at most {found.largest_budget():.2f} core")  # fmt: skip
        return found

    def run_ceilings(self, steps: StepRunner, targets: TargetSet) -> None:
        """Each server's bare app at the highest level: its ceiling, and the generator's."""
        if not self.plan.ceilings:
            return
        users = max(self.plan.users)
        for baseline in targets.baselines():
            for scenario in self.plan.ceiling_scenarios():
                if targets.ready(baseline):
                    record = steps.ceiling(baseline, scenario, users)
                    self.records.append(record)
                    say(describe(f"ceiling {baseline} {scenario.name} u={users}", record))

    def run_steps(self, steps: StepRunner) -> None:
        plan = self.plan
        per_step = plan.step_seconds(bool(self.wrk_path)) / max(len(plan.steps), 1)
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[done]}/{task.fields[total_steps]} steps"),
                      TimeRemainingColumn(), console=console, transient=True) as progress:  # fmt: skip
            task = progress.add_task("starting", total=per_step * len(plan.steps), done=0, total_steps=len(plan.steps))
            steps.tick = lambda stats: progress.update(task, description=f"{label}  {stats.get('total_rps', 0):,.0f} req/s now")
            for index, step in enumerate(plan.steps, 1):
                label = step.label
                progress.update(task, description=label)
                record = steps.run(step)
                self.records.append(record)
                say(describe(f"[{index}/{len(plan.steps)}] {label}", record))
                # Advance by the plan's share, so the time-left estimate learns the real pace.
                progress.update(task, advance=per_step, done=index)

    def say_fidelity(self, found: dict) -> None:
        if not found.get("measured"):
            return
        parts = [f"{name} {entry['fidelity']:.2f}" + ("" if entry["faithful"] else " (outside the band)")
                 for name, entry in found["targets"].items() if entry["fidelity"] is not None]  # fmt: skip
        if parts:
            low, high = found["band"]
            say(f"fidelity of the budget (req per CPU-second at {found['budget']:g} core / on the whole cores, band {low:.2f}-{high:.2f}): "
                + ", ".join(parts))  # fmt: skip

    def say_disturbed(self) -> None:
        shaken = [r for r in self.records if r.status == "ok" and noise_of(r)[0]]
        if shaken:
            console.print(f"[bold yellow]{len(shaken)} steps disturbed: re-run[/] (other processes used the lab's cores; marked ! in the report)")

    def status(self) -> str:
        measured = [r for r in self.records if r.kind == "step" and r.status == "ok"]
        if not measured:
            return "empty"
        return "complete" if len(measured) == len(self.plan.steps) else "partial"

    # -- the run ------------------------------------------------------------------------------

    def run(self) -> tuple[Path, str]:
        """Run the plan; the run folder and its status (complete, partial, empty, interrupted)."""
        plan = self.plan
        run_dir = self.run_dir = results.new_run_dir(self.options.results, plan.profile.name, self.engine_name)
        try:
            engine = self.engine_factory(self.engine_name, run_dir, self.settings)
            # Before `with engine`: a refused sweep (another run is live) must not close what is running.
            for line in engine.sweep():
                say(line)
        except BaseException:
            results.reserve(run_dir).unlink(missing_ok=True)
            run_dir.rmdir()  # nothing ran: leave no empty run folder
            raise
        timings: dict[str, float] = {}
        clock = time.monotonic()

        def lap(name: str) -> None:
            nonlocal clock
            timings[name] = round(time.monotonic() - clock, 1)
            clock = time.monotonic()

        status = "empty"
        manifest = Manifest(run_id=run_dir.name, started_at=results.now_iso(), engine=self.engine_name)
        try:
            with interruptible(), engine:
                setup = getattr(engine, "setup", None)
                if setup:
                    say("building the images (cached after the first time)")
                    setup()
                lap("setup_s")
                manifest = self.base_manifest(run_dir, engine)
                self.save(run_dir, manifest)
                say(f"run {run_dir.name}: {len(plan.steps)} steps, profile {plan.profile.name}, engine {self.engine_name}")
                say(f"results: {run_dir}")
                self.check_cores_idle(manifest)
                database_url = self.prepare_database(engine, manifest)
                say(f"starting Locust: a master and its workers on cores {plan.locust_cores}")
                with engine.generator(plan.locust_cores) as generator:
                    manifest.locust.update(generator.describe())
                    self.save(run_dir, manifest)
                    say(f"Locust web UI: {generator.web_url} (watch the run live)")
                    lap("locust_start_s")
                    wrk_on = bool(self.wrk_path)
                    timings["planned_calibration_s"] = round(plan.calibration_seconds(), 1)
                    timings["planned_ceilings_s"] = round(plan.ceiling_seconds(wrk_on), 1)
                    timings["planned_steps_s"] = round(plan.step_seconds(wrk_on), 1)
                    say(f"measuring: about {(plan.calibration_seconds() + plan.ceiling_seconds(wrk_on) + plan.step_seconds(wrk_on)) / 60:.1f} min")
                    targets = self.start_targets(engine, database_url, manifest)
                    problem = "the run ended before it measured"
                    try:
                        lap("targets_s")
                        problem = self.fidelity_problem(targets)
                        if problem:
                            console.print(f"[bold yellow]fidelity not measured: {problem}[/]")
                        steps = StepRunner(run_dir, plan, targets, generator, database_url, self.wrk_path, engine=self.engine_name,
                                           with_reference=problem is None)  # fmt: skip
                        if plan.calibrate:
                            self.choose_budget(targets, steps, manifest)
                            lap("calibration_s")
                        self.hold_budget(targets, manifest)
                        fractional = plan.server_cpus < len(plan.server_cores)
                        with IdleFiller(plan.server_cores, run_dir / "targets") if fractional else nullcontext() as filler:
                            steps.filler = filler
                            manifest.cores["filler"] = filler.describe() if filler else {"none": "the budget is the server's whole cores"}
                            self.save(run_dir, manifest)
                            self.run_ceilings(steps, targets)
                            lap("ceilings_s")
                            self.run_steps(steps)
                            lap("steps_s")
                    finally:
                        targets.stop()
                        manifest.fidelity = reference.not_measured(problem) if problem else reference.summary(self.records, plan.server_cpus)
                        self.say_fidelity(manifest.fidelity)
                self.say_disturbed()
                status = self.status()
        except KeyboardInterrupt:
            console.print("[bold yellow]interrupted: stopping targets and Locust; the finished steps are kept[/]")
            status = "interrupted"
            raise
        except LabError as problem:
            status, manifest.reason = "failed", str(problem)
            raise
        except OSError as problem:
            if not results.disk_error(problem, self.options.results):
                raise
            # The results disk (full, read-only, gone): one line, and the run recorded as failed.
            status = "failed"
            manifest.reason = f"cannot write the results: {problem.strerror or problem}" + (f" ({problem.filename})" if problem.filename else "")
            raise LabError(manifest.reason) from None
        finally:
            lap("cleanup_s")
            manifest.unavailable = manifest.unavailable or {}
            manifest.status, manifest.finished_at, manifest.exit_code = status, results.now_iso(), EXIT_CODES[status]
            manifest.timings = timings
            results.reserve(run_dir).unlink(missing_ok=True)  # the room for this last write on a full disk
            try:
                self.save(run_dir, manifest)
            except OSError as problem:
                console.print(f"[bold red]the run's end could not be recorded in {run_dir / 'manifest.json'}:[/] {problem.strerror or problem}")
        return run_dir, status


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


def describe(label: str, record: records.StepRecord) -> str:
    """One console line per step: its numbers, or why it has none."""
    if record.status != "ok":
        return f"{label:<34} [yellow]{record.status}[/]: {(record.reason or '').splitlines()[0]}"
    locust, server = record.locust, record.server
    line = (
        f"{label:<34} {locust['total_rps'] or 0:>9,.0f} req/s  failures {locust['total_failures']}/{locust['total_requests']}  "
        f"locust cores {load_text(locust, record.noise)}  server cpu {server.get('cpu_percent')}%"
    )
    if record.wrk:
        line += f"  wrk {record.wrk.get('requests_per_s') or 0:,.0f} req/s"
    shaken, why = noise_of(record)
    if shaken:
        line += f"  [yellow]disturbed[/]: {why}"
    return line


def load_text(locust: dict, noise: dict | None) -> str:
    """How full Locust's cores were (analysis.stats.generator_load: the † rule reads it)."""
    load = generator_load(locust.get("cpu_percent"), locust.get("demand_percent"), *generator_cores(locust, noise).values())
    return "?" if load is None else f"{load:.0f}%"


def noise_of(record: records.StepRecord) -> tuple[bool, str]:
    """Was the step disturbed (analysis.stats.disturbed), and by what, in words."""
    found = record.noise or {}
    if not disturbed(found.get("foreign_percent"), found.get("steal_percent")):
        return False, ""
    return True, noise_words(found["foreign_percent"], found["steal_percent"], found["worst_role"])
