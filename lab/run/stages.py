"""The measuring stages after the budget is held, each a loop over StepRunner (lab/run/steps.py):
the bare apps' ceilings, the matrix's steps, the profiled windows. Each appends every record to
`into` as soon as it has it, so a run interrupted midway keeps what it measured."""

from records.run import StepRecord

from . import profiling
from .console import describe, progress, say, warn
from .plan import Plan
from .steps import StepRunner
from .targets import TargetSet


def ceilings(plan: Plan, runner: StepRunner, targets: TargetSet, into: list[StepRecord]) -> None:
    """Each server's bare app at the highest level: its ceiling, and the generator's."""
    if not plan.ceilings:
        return
    users = max(plan.users)
    for baseline in targets.baselines():
        for scenario in plan.ceiling_scenarios():
            if targets.ready(baseline):
                record = runner.ceiling(baseline, scenario, users)
                into.append(record)
                say(describe(f"ceiling {baseline} {scenario.name} u={users}", record))


def steps(plan: Plan, runner: StepRunner, wrk_on: bool, into: list[StepRecord]) -> None:
    """The matrix, in its interleaved order, with a progress bar that learns the real pace."""
    per_step = plan.step_seconds(wrk_on) / max(len(plan.steps), 1)
    with progress() as bar:
        task = bar.add_task("starting", total=per_step * len(plan.steps), done=0, total_steps=len(plan.steps))
        for index, step in enumerate(plan.steps, 1):
            runner.tick = lambda stats, label=step.label: bar.update(task, description=f"{label}  {stats.get('total_rps', 0):,.0f} req/s now")
            bar.update(task, description=step.label)
            record = runner.run(step)
            into.append(record)
            say(describe(f"[{index}/{len(plan.steps)}] {step.label}", record))
            bar.update(task, advance=per_step, done=index)


def profiles(plan: Plan, runner: StepRunner, targets: TargetSet, into: list[StepRecord]) -> None:
    """One profiled window per target and scenario where the profile asks (lab/run/profiling.py); never a measurement."""
    scenarios = [s for s in plan.scenarios if s.name in profiling.SCENARIOS]
    if not plan.profile.settings.get("profile_cpu") or not scenarios:
        return
    problem = profiling.problem()
    if problem:
        warn(f"no CPU profiles: {problem}")
        return
    users = max(plan.users)
    for framework in plan.frameworks:
        for scenario in scenarios:
            if targets.ready(framework.name):
                record = runner.profiled(framework.name, scenario, users)
                into.append(record)
                say(describe(f"profile {framework.name} {scenario.name} u={users}", record) + profiling.words(record.profile))


# The latency pass: fixed rates as shares of each target's faithful peak. 25 and 50% are where a
# service is meant to run; 75 and 90% are where queueing starts to show in the tail (the knee of
# the "hockey stick"). Profile settings: latency = true, latency_percents = [...].
LATENCY_PERCENTS = (25, 50, 75, 90)
LATENCY_SCENARIO = "json"


def faithful_peak(records: list[StepRecord], name: str, scenario: str) -> tuple[float | None, bool]:
    """The highest req/s of a target's measured steps in a scenario where Locust's busiest worker
    stayed under the generator's CPU limit (above it, Locust set the number, not the server), and
    True; where every step was generator-bound, the highest of them and False (the rates are then
    shares of Locust's ceiling, and the records say so)."""
    from records.rules import GENERATOR_CPU_LIMIT

    ok = [r for r in records if r.kind == "step" and r.status == "ok" and r.framework == name and r.scenario == scenario]
    faithful = [r.locust.get("total_rps") or 0 for r in ok if (r.locust.get("cpu_percent") or 0) < GENERATOR_CPU_LIMIT]
    if any(faithful):
        return max(faithful), True
    return (max((r.locust.get("total_rps") or 0 for r in ok), default=0) or None), False


def latency(plan: Plan, runner: StepRunner, targets: TargetSet, measured: list[StepRecord], into: list[StepRecord]) -> None:
    """After the steps: each framework's json at fixed shares of its faithful peak, open model, with repeats."""
    settings = plan.profile.settings
    if not settings.get("latency") or LATENCY_SCENARIO not in plan.scenario_by_name:
        return
    from ..latency import MAX_RATE

    scenario = plan.scenario_by_name[LATENCY_SCENARIO]
    percents = [int(p) for p in settings.get("latency_percents", LATENCY_PERCENTS)]
    for framework in plan.frameworks:
        peak, faithful = faithful_peak(measured, framework.name, scenario.name)
        if peak is None or not targets.ready(framework.name):
            warn(f"latency pass: {framework.name} skipped (no {scenario.name} peak measured)")
            continue
        if not faithful:
            warn(f"latency pass: {framework.name}'s peak ({peak:,.0f} req/s) is generator-bound: its rates are shares of Locust's ceiling")
        for percent in percents:
            rate = peak * percent / 100
            if rate > MAX_RATE * runner.expected_workers():
                workers = runner.expected_workers()
                warn(f"latency pass: {framework.name} at {percent}% ({rate:,.0f} req/s) is above what {workers} worker{'s' if workers != 1 else ''} schedule")
                continue
            for repeat in range(1, plan.repeats + 1):
                record = runner.open_window(framework.name, scenario, percent, rate, repeat, {"peak_rps": round(peak, 1), "peak_faithful": faithful})
                into.append(record)
                found = record.latency or {}
                pcts = found.get("percentiles_ms") or {}
                say(describe(f"latency {framework.name} {scenario.name} {percent}% of {peak:,.0f} = {rate:,.0f} req/s r{repeat}", record)
                    + (f"  p50 {pcts.get('50')} p99 {pcts.get('99')} p99.9 {pcts.get('99.9')} ms, send lag p99 {found.get('send_lag_ms')} ms" if pcts else ""))  # fmt: skip
