"""One step of the matrix: the rules around a measured window, and its record on disk.

A step is skipped when its target is unavailable, or its database is and it needs one; the
first step of each (target, scenario) is preceded by a warm-up that is thrown away; a step
that writes to the database starts from the seed data; a json step at the run's highest level
is bracketed by the whole-core reference and has a wrk window at the budget in every repeat
(lab/run/reference.py). The window itself is Locust's (lab/load/locust.py); the server's CPU and
memory, and the Locust processes', are sampled around it.
"""

import subprocess
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

from records import layout
from records import run as records
from records.files import write_json
from records.run import StepRecord

from ..catalog import Scenario
from ..contract import database
from ..engines.base import Generator
from ..errors import LabError
from ..load import openmodel, wrk
from . import profiling, reference
from .calibrate import PROBE_SECONDS
from .folders import now_iso
from .noise_sampler import NoiseSampler
from .plan import Plan, Step
from .targets import TargetSet


class StepRunner:
    def __init__(self, run_dir: Path, plan: Plan, targets: TargetSet, generator: Generator, database_url: str | None,
                 wrk_path: str | None, tick: Callable[[dict], None] = lambda stats: None, engine: str = "local",
                 with_reference: bool = False):  # fmt: skip
        self.run_dir = run_dir
        self.plan = plan
        self.targets = targets
        self.generator = generator
        self.master = generator.master()
        self.database_url = database_url
        self.wrk_path = wrk_path
        self.tick = tick
        self.warmed: set[tuple[str, str]] = set()
        self.engine = engine
        # Measure the whole-core reference beside each json step at the highest level (lab/run/reference.py).
        self.with_reference = with_reference
        # The idle fillers on the server's cores while the targets run under a quota (lab/engines/filler.py), set by the runner.
        self.filler = None
        # The cores whose other users the noise guard measures (lab/run/noise.py).
        self.roles = {"server": plan.server_cores, "locust": plan.locust_cores}

    def expected_workers(self) -> int:
        return self.generator.workers + self.generator.settings.extra_workers

    def run(self, step: Step) -> StepRecord:
        """A step of the matrix: skipped, failed or measured; its step.json written either way."""
        folder = layout.step_dir(self.run_dir, step.framework, step.scenario, step.users, step.repeat)
        scenario = self.plan.scenario_by_name[step.scenario]
        record = StepRecord(step.framework, step.scenario, step.users, step.repeat, started_at=now_iso())
        if step.framework in self.targets.unavailable:
            return self.finish(folder, record, "skipped", f"target unavailable: {self.targets.unavailable[step.framework].splitlines()[0]}")
        if scenario.database and step.framework in self.targets.database_unavailable:
            return self.finish(folder, record, "skipped", f"database unavailable for {step.framework}: {self.targets.database_unavailable[step.framework]}")
        if scenario.resets_database:
            # A step that writes starts from the seed data, whatever ran before it.
            try:
                database.reset(self.database_url)
            except LabError as problem:
                return self.finish(folder, record, "failed", str(problem))
        referenced = self.with_reference and scenario.name == reference.SCENARIO and step.users == max(self.plan.users)
        before = self.reference(step.framework, scenario, step.users) if referenced else None
        self.measure(record, scenario, folder, self.warmup_for(step.framework, scenario))
        # A referenced step's wrk window at the budget, its judged figure (lab/run/reference.py), lies
        # between the two whole-core references, as Locust's does.
        if record.status == "ok" and referenced:
            self.add_wrk(record, scenario, folder, min(self.plan.duration, reference.SECONDS))  # as long as a reference's
        elif record.status == "ok" and self.wants_wrk(step, scenario):
            self.add_wrk(record, scenario, folder)
        if referenced:
            self.add_reference(record, before, scenario, folder)
        return record

    def ceiling(self, baseline: str, scenario: Scenario, users: int) -> StepRecord:
        """A bare app at the run's highest level: its server's ceiling (wrk's figure, where installed:
        a generator that can reach it) and Locust's (what this generator can deliver)."""
        folder = layout.ceiling_dir(self.run_dir, baseline, scenario.name, users)
        record = StepRecord(baseline, scenario.name, users, 0, kind="ceiling", started_at=now_iso())
        referenced = self.with_reference and scenario.name == reference.SCENARIO
        before = self.reference(baseline, scenario, users) if referenced else None
        self.measure(record, scenario, folder, self.warmup_for(baseline, scenario))
        if record.status == "ok" and self.wrk_path and scenario.wrk_path:
            self.add_wrk(record, scenario, folder)
        if referenced:
            self.add_reference(record, before, scenario, folder)
        return record

    def profiled(self, name: str, scenario: Scenario, users: int) -> StepRecord:
        """One more window with a sampling profiler on the server (lab/run/profiling.py): not a measurement."""
        folder = layout.profile_dir(self.run_dir, name, scenario.name, users)
        record = StepRecord(name, scenario.name, users, 0, kind="profile", started_at=now_iso())
        pid = self.targets.targets[name].pid()
        if pid is None:
            return self.finish(folder, record, "skipped", "the server's process cannot be seen from this host")
        with profiling.recording(pid, folder / "stacks.txt") as found:
            self.measure(record, scenario, folder, warmup=0)
        record.profile = found
        records.write(folder / "step.json", record)
        return record

    def open_window(self, name: str, scenario: Scenario, percent: int, rate: float, repeat: int, peak: dict | None = None) -> StepRecord:
        """An open-model window at a fixed rate (the latency pass, lab/run/stages.py): one user per
        worker sends on the schedule; the record keeps the merged result and the server's throttling."""
        folder = layout.latency_dir(self.run_dir, name, scenario.name, percent, repeat)
        record = StepRecord(name, scenario.name, self.expected_workers(), repeat, kind="latency", started_at=now_iso())
        if name in self.targets.unavailable:
            return self.finish(folder, record, "skipped", f"target unavailable: {self.targets.unavailable[name].splitlines()[0]}")
        options = {"rate": f"{rate:.2f}", "open_path": scenario.wrk_path, "arrivals": "constant"}
        self.measure(record, scenario, folder, warmup=0, user_class=OPEN_USER_CLASS, options=options)
        if record.latency is not None:
            start, end = record.locust.get("window_start"), record.locust.get("window_end")
            window_s = end - start if start and end else None
            record.latency = {"percent_of_peak": percent, **(peak or {}), **latency_words(record.latency, record.server, window_s)}
            # The encoded histogram on its own too: any percentile, recomputed without reading the record.
            write_json(folder / "histogram.json", {"format": openmodel.HISTOGRAM_FORMAT, "histogram": record.latency["histogram"]})
            if record.latency["flags"] and record.status == "ok":
                record.reason = "; ".join(record.latency["flags"])
            records.write(folder / "step.json", record)
        return record

    def probe(self, framework: str, scenario: Scenario, users: int) -> StepRecord:
        """A short window for calibration (lab/run/calibrate.py), kept under calibration/ beside the run."""
        folder = layout.probe_dir(self.run_dir, self.plan.server_cpus, framework, scenario.name, users)
        record = StepRecord(framework, scenario.name, users, 0, kind="probe", started_at=now_iso())
        return self.measure(record, scenario, folder, self.warmup_for(framework, scenario), PROBE_SECONDS)

    def add_wrk(self, record: StepRecord, scenario: Scenario, folder: Path, seconds: float | None = None) -> None:
        """wrk on the same target at the same connections, right after its window, into its step.json."""
        target = self.targets.targets[record.framework]
        record.wrk = wrk.run(target.url + scenario.wrk_path, record.users, seconds or self.plan.duration, self.plan.locust_cores, cpu=target.cpu_seconds)
        records.write(folder / "step.json", record)

    def add_reference(self, record: StepRecord, before: dict, scenario: Scenario, folder: Path) -> None:
        """The whole-core reference of a step: wrk before its window and after it (lab/run/reference.py), into its step.json."""
        after = self.reference(record.framework, scenario, record.users) if record.status == "ok" else {"problem": "the step was not measured"}
        record.reference = reference.bracket(before, after)
        records.write(folder / "step.json", record)

    def reference(self, name: str, scenario: Scenario, users: int) -> dict:
        """The target on its whole cores with wrk, beside its window (lab/run/reference.py); or why not."""
        try:
            return reference.measure(self.targets.targets[name], scenario.wrk_path, users, min(self.plan.duration, reference.SECONDS),
                                     self.plan.locust_cores, self.plan.server_cpus, self.filler)  # fmt: skip
        except (LabError, subprocess.SubprocessError, OSError) as problem:
            return {"problem": str(problem)}

    def wants_wrk(self, step: Step, scenario: Scenario) -> bool:
        # Once per framework and scenario, at the highest level: the second opinion on the generator.
        # (A referenced json step has it in every repeat: run() above.)
        return bool(self.wrk_path and scenario.wrk_path and step.users == max(self.plan.users) and step.repeat == 1)

    def warmup_for(self, name: str, scenario: Scenario) -> float:
        """Seconds of load before the window: the warm-up, on the first step of each (target, scenario).

        It runs as part of that step, thrown away by the stats reset that opens the window.
        """
        key = (name, scenario.name)
        if key in self.warmed:
            return 0
        self.warmed.add(key)
        return self.plan.warmup

    def noise_sampler(self) -> NoiseSampler:
        name = database.database_name(self.database_url) if self.database_url else None
        return NoiseSampler(self.roles, database=name, docker=self.engine == "docker")

    def measure(self, record: StepRecord, scenario: Scenario, folder: Path, warmup: float, duration: float | None = None,
                user_class: str | None = None, options: dict | None = None) -> StepRecord:  # fmt: skip
        """One window against one target, with the server's and Locust's CPU and memory sampled meanwhile,
        and the CPU time anything else took on their cores (the noise guard)."""
        target = self.targets.targets[record.framework]
        self.generator.ensure_workers()
        window = None
        try:
            with (target.sampler() as server, self.generator.sampler() as locust, self.noise_sampler() as noise,
                  self.filler.sampler() if self.filler else nullcontext() as filler):  # fmt: skip
                window = self.master.measure(user_class or scenario.user_class, target.load_url, record.users, duration or self.plan.duration,
                                             self.expected_workers(), warmup, self.tick, options)  # fmt: skip
        except LabError as problem:
            self.fatal_if_generator_gone()
            reason = str(problem)
        if window is not None:
            start, end = window.stop.get("window_start"), window.stop.get("window_end")
            record.latency = window.latency
            record.locust = locust_record(window, user_class or scenario.user_class, target.load_url, record.users, warmup, self.plan.locust_cores, locust.usage(start, end))
            record.server = {"cores": self.plan.server_cores, "cpus": self.plan.server_cpus, **server.usage(start, end)}
            if filler is not None:
                record.server["filler_cpu_percent"] = filler.usage(start, end)["cpu_percent"]
            # The lab's own CPU on the server's cores: the server, and the idle fillers there.
            own = None if record.server["cpu_percent"] is None else record.server["cpu_percent"] + (record.server.get("filler_cpu_percent") or 0)
            record.noise = noise.record(start, end, {"server": own, "locust": record.locust["processes"]["cpu_percent"]})
            keep_locust_files(window, folder)
            reason = "; ".join(window.problems) or None
        if not target.alive():
            reason = f"{target.exit_reason()} during the step; last log lines:\n{target.log_tail()}"
            self.targets.drop(record.framework, reason)
        return self.finish(folder, record, "failed" if reason else "ok", reason)

    def fatal_if_generator_gone(self) -> None:
        problem = self.generator.problem()
        if problem:
            raise LabError(f"the load generator stopped working: {problem}")

    def finish(self, folder: Path, record: StepRecord, status: str, reason: str | None) -> StepRecord:
        record.status, record.reason, record.ended_at = status, reason, now_iso()
        records.write(folder / "step.json", record)
        return record


OPEN_USER_CLASS = "OpenGetUser"  # locustfiles/open_model.py


def latency_words(latency: dict, server: dict, window_s: float | None) -> dict:
    """The open-model result, and how much of its tail the server's CPU quota can explain.

    Under a quota the kernel stops the server for the rest of each 100 ms period once its share
    is used up, and every request due meanwhile waits. The share of the window spent throttled
    is about the share of requests that waited for it: at 1% or more (the requests above p99),
    throttling alone can make the p99."""
    throttle = (server or {}).get("throttle") or {}
    share = None if not throttle or not window_s else round(100 * throttle.get("throttled_s", 0) / window_s, 2)
    explains = None if share is None else ("can make the p99 on its own" if share >= 1 else f"{share:g}% of requests, under the 1% above p99")
    return {**latency, "throttle": throttle or None, "throttled_share_percent": share, "throttling_explains": explains}


def locust_record(window, user_class: str, host: str, users: int, warmup: float, cores: list[int], processes: dict) -> dict:
    """What Locust's master and workers said of a window, for step.json's `locust`."""
    stop = window.stop
    workers = stop.get("workers", [])
    return {
        "user_class": user_class,
        "host": host,
        "users": users,
        "warmup_s": warmup,
        "cores": cores,
        "window_start": stop.get("window_start"),
        "window_end": stop.get("window_end"),
        "workers": workers,
        # Each worker is one process on one core: the busiest one is the first to run out.
        "cpu_percent": max((w["cpu_percent"] for w in workers), default=None),
        "demand_percent": max((w["demand_percent"] for w in workers if w.get("demand_percent") is not None), default=None),
        "master_cpu_percent": (stop.get("master") or {}).get("cpu_percent"),
        "processes": processes,
        "total_requests": stop.get("total_requests"),
        "total_failures": stop.get("total_failures"),
        "total_rps": stop.get("total_rps"),
        "phases_s": window.phases,
    }


def keep_locust_files(window, folder: Path) -> None:
    """Locust's own CSV downloads for the window, and what its web UI showed once it closed."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in window.csv.items():
        (folder / f"locust_{name}.csv").write_text(text)
    write_json(folder / "locust_web_stats.json", window.stats)
