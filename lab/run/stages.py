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
