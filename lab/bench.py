"""The runner: matrix -> targets up -> conformance -> warm-up -> Locust steps -> results tree.

Steps run in interleaved order (every framework at one level before the next
level, every repeat after the last), so slow drift of the machine hits all
frameworks alike. All targets are started first and wait idle while another
one is loaded.
"""

import csv
import os
import signal
import time
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from . import catalog, conformance, database, loadgen, results, wrk
from .catalog import Framework, LabError, Profile, Scenario
from .docker import DockerEngine, choose_engine
from .local import LocalEngine

console = Console(highlight=False, soft_wrap=True)


def say(text: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}")

# Scenarios the bare baseline apps answer, so they can give a ceiling.
CEILING_SCENARIOS = ("json", "plaintext")


@dataclass(frozen=True)
class Step:
    framework: str
    scenario: str
    users: int
    repeat: int

    @property
    def label(self) -> str:
        return f"{self.framework} {self.scenario} u={self.users} r{self.repeat}"


@dataclass
class Options:
    profile: str = "quick"
    engine: str = "local"
    frameworks: list[str] | None = None
    scenarios: list[str] | None = None
    server_cores: list[int] | None = None
    locust_cores: list[int] | None = None
    results: Path = results.RESULTS
    # Overrides of the profile, mainly for tests.
    users: list[int] | None = None
    duration: int | None = None
    warmup: int | None = None
    repeats: int | None = None
    # How long a target may take to answer /health 200 before it is given up on.
    health_timeout: float = 60


def build_matrix(frameworks: list[str], scenarios: list[str], users: list[int], repeats: int) -> list[Step]:
    return [
        Step(framework, scenario, level, repeat)
        for repeat in range(1, repeats + 1)
        for scenario in scenarios
        for level in users
        for framework in frameworks
    ]


def parse_cores(text: str | None) -> list[int] | None:
    """'0', '0,1' or '2-3' -> [0], [0, 1], [2, 3]."""
    if not text:
        return None
    cores: list[int] = []
    try:
        for part in text.split(","):
            low, _, high = part.partition("-")
            cores.extend(range(int(low), int(high or low) + 1))
    except ValueError:
        raise LabError(f"cannot read cores {text!r}: use a list like 0 or 0,1 or 2-3") from None
    return cores


def plan_cores(server: list[int] | None, generator: list[int] | None, usable: list[int]) -> tuple[list[int], list[int]]:
    """Server and Locust on separate cores; refuse what this machine cannot give."""
    if len(usable) < 2:
        raise LabError(
            f"this machine lets the lab use {len(usable)} core ({usable}); the server and Locust need one each, "
            "on separate cores, or the generator steals the server's CPU. Run on a machine with 2 or more cores."
        )
    server = server or [usable[0]]
    generator = generator or [usable[-1]]
    for role, cores in (("server", server), ("locust", generator)):
        outside = sorted(set(cores) - set(usable))
        if outside:
            raise LabError(f"{role} cores {outside} do not exist here; usable cores are {usable}")
    shared = sorted(set(server) & set(generator))
    if shared:
        raise LabError(
            f"server cores {server} and locust cores {generator} overlap on {shared}; "
            f"give each its own, e.g. SERVER_CORES={usable[0]} LOCUST_CORES={usable[-1]}"
        )
    return server, generator


def resolve(options: Options) -> tuple[Profile, list[Framework], list[Scenario]]:
    profiles = catalog.profiles()
    if options.profile not in profiles:
        raise LabError(f"unknown profile {options.profile!r}; valid: {', '.join(profiles)}")
    profile = profiles[options.profile]
    frameworks = catalog.pick("framework", catalog.frameworks(), options.frameworks)
    all_scenarios = catalog.scenarios()
    unknown = [name for name in profile.scenarios if name not in all_scenarios]
    if unknown:
        raise LabError(f"profile {profile.name!r} in {catalog.PROFILES} names unknown scenarios {unknown}; valid: {', '.join(all_scenarios)}")
    scenarios = catalog.pick("scenario", all_scenarios, options.scenarios or profile.scenarios)
    return profile, frameworks, scenarios


def read_aggregate(stats_csv: Path) -> dict:
    """The Aggregated row of a step's stats file, for the console line."""
    with open(stats_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("Name") == "Aggregated":
                return row
    return {}


class Bench:
    def __init__(self, options: Options):
        self.options = options
        # "auto": docker when a Docker engine answers, else local; "docker" with no engine is refused here.
        options.engine = choose_engine(options.engine, say)
        if options.engine not in ENGINES:
            raise LabError(f"unknown engine {options.engine!r}; valid: {', '.join(ENGINES)}")
        self.profile, self.frameworks, self.scenarios = resolve(options)
        self.users = options.users or self.profile.users
        self.duration = options.duration or self.profile.duration
        self.warmup = self.profile.warmup if options.warmup is None else options.warmup
        self.repeats = options.repeats or self.profile.repeats
        usable = sorted(os.sched_getaffinity(0))
        self.server_cores, self.locust_cores = plan_cores(options.server_cores, options.locust_cores, usable)
        self.steps = build_matrix([f.name for f in self.frameworks], [s.name for s in self.scenarios], self.users, self.repeats)
        self.scenario_by_name = {s.name: s for s in self.scenarios}
        self.targets: dict = {}
        self.unavailable: dict[str, str] = {}
        # Targets that are up but whose database is not: their database steps are skipped.
        self.database_unavailable: dict[str, str] = {}
        self.database_url: str | None = None
        self.warmed: set[tuple[str, str]] = set()
        self.locust_process = None
        self.wrk_path = wrk.available()

    # -- manifest -----------------------------------------------------------------

    def base_manifest(self) -> dict:
        return {
            "manifest_version": results.MANIFEST_VERSION,
            "run_id": self.run_dir.name,
            "status": "running",
            "started_at": results.now_iso(),
            "finished_at": None,
            "engine": self.options.engine,
            "engine_details": self.engine.describe(),
            "profile": {**self.profile.settings, "name": self.profile.name},
            "effective": {"users": self.users, "duration_s": self.duration, "warmup_s": self.warmup, "repeats": self.repeats},
            "matrix": {
                "frameworks": [f.name for f in self.frameworks],
                "scenarios": [s.name for s in self.scenarios],
                "users": self.users,
                "repeats": self.repeats,
                "order": "interleaved: repeat > scenario > users > framework",
                "steps": len(self.steps),
            },
            "cores": {"server": self.server_cores, "locust": self.locust_cores},
            "host": results.host_facts(),
            "git": results.git_state(),
            "locust": {
                "version": version("locust"),
                **self.engine.locust_setup(self.locust_cores),
                "user_class": "FastHttpUser, no think time",
                "ramp_s": loadgen.RAMP_SECONDS,
                "options": loadgen.locust_command(self.scenarios[0], "<target>", 0, 0, Path("<step>/locust"))[3:],
            },
            "scenarios": {s.name: {"locustfile": str(s.locustfile.relative_to(catalog.ROOT)), "description": s.description} for s in self.scenarios},
            "targets": {},
            "baselines": {},
            "database": {},
            "unavailable": {},
            "wrk": {"path": self.wrk_path, "policy": "once per framework and wrk-able scenario, at the highest user level, repeat 1"},
        }

    def save_manifest(self) -> None:
        self.manifest["unavailable"] = self.unavailable
        results.write_json(self.run_dir / "manifest.json", self.manifest)

    # -- targets ------------------------------------------------------------------

    def prepare_database(self) -> None:
        """The lab's own database on the DATABASE_URL server, created and seeded (reset) for this run.

        If it cannot be, the run goes on: each target's /health then says the same, and
        only the database steps are skipped.
        """
        server = self.engine.database_server()
        self.database_url = database.with_database(server, database.BENCH_DATABASE)
        record = {"url": database.redact(self.database_url), "schema": str(database.SCHEMA.relative_to(catalog.ROOT))}
        try:
            database.prepare(server)
            record.update(available=True, **database.describe(self.database_url))
            say(f"database {record['url']}: created and seeded, PostgreSQL {record['server_version']}")
        except LabError as problem:
            record.update(available=False, reason=str(problem))
            if any(s.database for s in self.scenarios):
                console.print(f"[bold yellow]database unavailable: {problem}[/] — the database steps will be skipped")
        self.manifest["database"] = record

    def start_targets(self) -> None:
        """Every framework of the run and the baselines of their servers: up, healthy, conforming."""
        baselines = catalog.baselines()
        needed = [baselines[name] for name in dict.fromkeys(f.baseline for f in self.frameworks) if name in baselines]
        for service in [*self.frameworks, *needed]:
            target = self.engine.target(service, self.server_cores, {"DATABASE_URL": self.database_url})
            self.targets[service.name] = target
            say(f"starting {service.name} ({service.summary}) on cores {self.server_cores}")
            try:
                target.start()
                target.wait_healthy(self.options.health_timeout)
            except LabError as problem:
                self.drop_target(service.name, str(problem))
                continue
            checks = conformance.BASELINE_CHECKS if service.kind == "baseline" else conformance.CHECKS
            db_status = conformance.database_status(target.url) if service.kind != "baseline" else None
            if db_status and db_status["available"]:
                checks = checks + conformance.DB_CHECKS
            elif db_status:
                self.database_unavailable[service.name] = db_status["reason"]
                if any(s.database for s in self.scenarios):
                    console.print(f"[bold yellow]{service.name}: {db_status['reason']}[/] — its database steps are skipped")
            failures = conformance.run_all(target.url, checks)
            if failures:
                self.drop_target(service.name, "fails the endpoint contract:\n  " + "\n  ".join(failures))
                continue
            section = "baselines" if service.kind == "baseline" else "targets"
            self.manifest[section][service.name] = {
                **target.describe(),
                "server": service.server,
                "interface": service.interface,
                "summary": service.summary,
                "baseline": service.baseline,
                "start_command_text": service.start_command.read_text(),
            }
            if db_status:
                pool = db_status.get("pool_size")
                workers = self.manifest[section][service.name]["workers"]
                db_status["connections"] = pool * workers if pool else None
                self.manifest[section][service.name]["database"] = db_status
            say(f"{service.name}: healthy, passes the contract, {self.manifest[section][service.name]['workers']} worker(s)")
        self.save_manifest()

    def run_ceilings(self) -> None:
        """Before the targets: each server's bare app at the highest user level.

        The best of these is what this generator setup can deliver at all (the
        generator ceiling); each one is also its server's ceiling, against which a
        framework's throughput is its share (the rest is the framework's tax).
        """
        names = [s.name for s in self.scenarios if s.name in CEILING_SCENARIOS] or ["json"]
        users = max(self.users)
        for baseline in list(self.manifest["baselines"]):
            for name in names:
                if baseline in self.unavailable:
                    break
                scenario = catalog.scenarios()[name]
                target = self.targets[baseline]
                folder = self.run_dir / "ceiling" / baseline / name / f"u{users:04d}"
                self.warm_up(Step(baseline, name, users, 0), scenario)
                record = self.measure(Step(baseline, name, users, 0), scenario, target, folder, kind="ceiling")
                say(self.describe_record(f"ceiling {baseline} {name} u={users}", record, folder))

    def drop_target(self, name: str, reason: str) -> None:
        console.print(f"[bold red]{name}: {reason}[/] — its steps are skipped")
        self.unavailable[name] = reason
        target = self.targets.get(name)
        if target:
            target.stop()

    def stop_targets(self) -> None:
        for target in self.targets.values():
            target.stop()

    # -- steps --------------------------------------------------------------------

    def remember_locust(self, process) -> None:
        self.locust_process = process

    def warm_up(self, step: Step, scenario: Scenario) -> None:
        key = (step.framework, step.scenario)
        if key in self.warmed or self.warmup <= 0:
            return
        self.warmed.add(key)
        scratch = self.run_dir / "warmup" / step.framework / step.scenario
        self.engine.run_locust(scenario, self.targets[step.framework], max(self.users), self.warmup, scratch, self.locust_cores, self.remember_locust)
        # Thrown away: only the fact that it ran is kept.
        for path in scratch.glob("locust_*.csv"):
            path.unlink()

    def run_step(self, step: Step) -> dict:
        folder = results.step_dir(self.run_dir, step.framework, step.scenario, step.users, step.repeat)
        folder.mkdir(parents=True, exist_ok=True)
        if step.framework in self.unavailable:
            record = {**asdict(step), "kind": "step", "status": "skipped", "started_at": results.now_iso()}
            record["reason"] = f"target unavailable: {self.unavailable[step.framework].splitlines()[0]}"
            return self.finish_step(folder, record)
        scenario = self.scenario_by_name[step.scenario]
        if scenario.database and step.framework in self.database_unavailable:
            record = {**asdict(step), "kind": "step", "status": "skipped", "started_at": results.now_iso()}
            record["reason"] = f"database unavailable for {step.framework}: {self.database_unavailable[step.framework]}"
            return self.finish_step(folder, record)
        self.warm_up(step, scenario)
        if scenario.resets_database:
            # A step that writes starts from the seed data, whatever ran before it (its warm-up too).
            try:
                database.reset(self.database_url)
            except LabError as problem:
                record = {**asdict(step), "kind": "step", "status": "failed", "started_at": results.now_iso()}
                record["reason"] = str(problem)
                return self.finish_step(folder, record)
        record = self.measure(step, scenario, self.targets[step.framework], folder)
        if record["status"] == "ok" and self.wants_wrk(step, scenario):
            record["wrk"] = wrk.run(self.targets[step.framework].url + scenario.wrk_path, step.users, self.duration, self.locust_cores)
            self.finish_step(folder, record)
        return record

    def wants_wrk(self, step: Step, scenario: Scenario) -> bool:
        # Once per framework and scenario, at the highest level: enough for the ratio, cheap in time.
        return bool(self.wrk_path and scenario.wrk_path and step.users == max(self.users) and step.repeat == 1)

    def measure(self, step: Step, scenario: Scenario, target, folder: Path, kind: str = "step") -> dict:
        """One Locust run against one target, with the server's CPU and memory sampled meanwhile."""
        record = {**asdict(step), "kind": kind, "status": "failed", "reason": None, "started_at": results.now_iso()}
        sampler = target.sampler().start()
        run = self.engine.run_locust(scenario, target, step.users, self.duration, folder, self.locust_cores, self.remember_locust)
        sampler.stop()
        final = run.final
        record.update(
            locust={
                "command": run.command,
                "exit_code": run.exit_code,
                "cores": self.locust_cores,
                "cpu_percent": final.get("locust_cpu_percent"),
                "demand_percent": final.get("locust_demand_percent"),
                "cpu_warning": final.get("cpu_warning_emitted"),
                "window_start": final.get("window_start"),
                "window_end": final.get("window_end"),
            },
            server={"cores": self.server_cores, **sampler.usage(final.get("window_start"), final.get("window_end"))},
        )
        if not target.alive():
            reason = f"{target.exit_reason()} during the step; last log lines:\n{target.log_tail()}"
            record.update(status="failed", reason=reason)
            self.drop_target(step.framework, reason)
        elif run.timed_out:
            record.update(status="failed", reason="Locust did not finish within its run time + 60 s and was killed")
        elif not final or not (folder / "locust_stats.csv").exists():
            record.update(status="failed", reason=f"Locust exited with code {run.exit_code} without final stats; see {folder / 'locust.log'}")
        else:
            record["status"] = "ok"
        return self.finish_step(folder, record)

    def finish_step(self, folder: Path, record: dict) -> dict:
        record["ended_at"] = results.now_iso()
        results.write_json(folder / "step.json", record)
        return record

    def describe_record(self, label: str, record: dict, folder: Path) -> str:
        if record["status"] != "ok":
            return f"{label:<34} [yellow]{record['status']}[/]: {(record['reason'] or '').splitlines()[0]}"
        row = read_aggregate(folder / "locust_stats.csv")
        requests_, failures = int(row.get("Request Count", 0)), int(row.get("Failure Count", 0))
        line = (
            f"{label:<34} {float(row.get('Requests/s', 0)):>9,.0f} req/s  p50 {row.get('50%')} ms  p99 {row.get('99%')} ms  "
            f"failures {failures}/{requests_}  locust cpu {record['locust']['cpu_percent']}%  server cpu {record['server']['cpu_percent']}%"
        )
        if record.get("wrk"):
            line += f"  wrk {record['wrk'].get('requests_per_s') or 0:,.0f} req/s"
        return line

    # -- the run ------------------------------------------------------------------

    def run(self) -> Path:
        self.run_dir = results.new_run_dir(self.options.results, self.profile.name, self.options.engine)
        try:
            self.engine = make_engine(self.options.engine, self.run_dir)
        except LabError:
            self.run_dir.rmdir()  # nothing ran: leave no empty run folder
            raise
        self.manifest = self.base_manifest()
        self.save_manifest()
        say(f"run {self.run_dir.name}: {len(self.steps)} steps, profile {self.profile.name}, engine {self.options.engine}")
        say(f"results: {self.run_dir}")
        previous_sigterm = signal.signal(signal.SIGTERM, raise_interrupt)
        status = "incomplete"
        try:
            self.prepare_database()
            self.start_targets()
            self.run_ceilings()
            per_step = loadgen.expected_seconds(self.duration)
            planned = len(self.steps) * per_step + len(self.frameworks) * len(self.scenarios) * loadgen.expected_seconds(self.warmup)
            if self.wrk_path:
                planned += sum(1 for s in self.scenarios if s.wrk_path) * len(self.frameworks) * self.duration
            with Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[done]}/{task.fields[total_steps]} steps"),
                TimeRemainingColumn(), console=console, transient=True,
            ) as progress:
                task = progress.add_task("starting", total=planned, done=0, total_steps=len(self.steps))
                for index, step in enumerate(self.steps, 1):
                    progress.update(task, description=f"{step.label}")
                    started = time.monotonic()
                    record = self.run_step(step)
                    folder = results.step_dir(self.run_dir, step.framework, step.scenario, step.users, step.repeat)
                    say(self.describe_record(f"[{index}/{len(self.steps)}] {step.label}", record, folder))
                    progress.update(task, advance=max(time.monotonic() - started, 0), done=index)
            status = "complete"
        except KeyboardInterrupt:
            console.print("[bold yellow]interrupted: stopping targets; the finished steps are kept[/]")
            status = "interrupted"
            raise
        finally:
            if self.locust_process is not None and self.locust_process.poll() is None:
                self.locust_process.kill()
            self.stop_targets()
            self.engine.close()
            self.manifest["status"] = status
            self.manifest["finished_at"] = results.now_iso()
            self.save_manifest()
            signal.signal(signal.SIGTERM, previous_sigterm)
        return self.run_dir


ENGINES = {"local": LocalEngine, "docker": DockerEngine}


def make_engine(name: str, run_dir: Path):
    if name not in ENGINES:
        raise LabError(f"unknown engine {name!r}; valid: {', '.join(ENGINES)}")
    return ENGINES[name](run_dir)


def raise_interrupt(signum, frame):
    raise KeyboardInterrupt
