"""The server's CPU budget for a run: how the engine will hold it (refused before anything starts
when it cannot), calibration's choice or check of it (lab/run/calibrate.py), and the quota set
on every running target."""

from records.run import Manifest

from ..engines import ENGINES, cgroups
from ..errors import LabError
from . import calibrate
from .console import console, say, warn
from .plan import Plan
from .steps import StepRunner
from .targets import TargetSet


class Budget:
    def __init__(self, plan: Plan, engine_name: str):
        self.plan = plan
        self.engine = ENGINES[engine_name]
        # How the engine will hold the server to its CPU budget; refused here when it cannot.
        self.cpu_limit = self.engine.cpu_limit(plan.server_cpus, plan.server_cores)
        # Calibration picks fractions: with no CPU quota here it cannot, and the run keeps all the cores.
        self.quota_problem = None
        if plan.budget == "auto":
            try:
                self.engine.cpu_limit(calibrate.LADDER[-1], plan.server_cores)
            except LabError as problem:
                self.quota_problem = str(problem)

    def choose(self, targets: TargetSet, steps: StepRunner, manifest: Manifest) -> None:
        """Probe every framework on its whole cores and pick (or check) the budget."""
        plan = self.plan
        if self.quota_problem:
            manifest.budget = calibrate.fixed(plan.server_cpus, f"not calibrated: {self.quota_problem}")
            warn(calibrate.headline(manifest.budget))
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

    def hold(self, targets: TargetSet, manifest: Manifest) -> None:
        """The run's budget on every running target (a quota below its cores), recorded."""
        plan = self.plan
        self.cpu_limit = self.engine.cpu_limit(plan.server_cpus, plan.server_cores)
        manifest.cores.update(server_cpus=plan.server_cpus, server_cpu_limit=self.cpu_limit)
        targets.limit(plan.server_cpus)
        if self.fractional:
            say(f"every target held to {plan.server_cpus:g} core(s) of {len(plan.server_cores)} (a CPU quota per {cgroups.PERIOD_US // 1000} ms)")

    @property
    def fractional(self) -> bool:
        return self.plan.server_cpus < len(self.plan.server_cores)
