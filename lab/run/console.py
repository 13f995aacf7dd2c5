"""What a run says as it goes: one timed line per stage and step, a progress bar, warnings."""

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from records.rules import disturbed, generator_cores, generator_load, noise_words
from records.run import StepRecord

console = Console(highlight=False, soft_wrap=True)


def say(text: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {text}")


def warn(text: str) -> None:
    console.print(f"[bold yellow]{text}[/]")


def progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[done]}/{task.fields[total_steps]} steps"),
                    TimeRemainingColumn(), console=console, transient=True)  # fmt: skip


def describe(label: str, record: StepRecord) -> str:
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
    """How full Locust's cores were (records.rules.generator_load: the † rule reads it)."""
    load = generator_load(locust.get("cpu_percent"), locust.get("demand_percent"), *generator_cores(locust, noise).values())
    return "?" if load is None else f"{load:.0f}%"


def noise_of(record: StepRecord) -> tuple[bool, str]:
    """Was the step disturbed (records.rules.disturbed), and by what, in words."""
    found = record.noise or {}
    if not disturbed(found.get("foreign_percent"), found.get("steal_percent")):
        return False, ""
    return True, noise_words(found["foreign_percent"], found["steal_percent"], found["worst_role"])


def say_fidelity(found: dict) -> None:
    if not found.get("measured"):
        return
    low, high = found["band"]
    for key, who in (("wrk_fidelity", "wrk, the judged figures"), ("fidelity", "Locust")):
        parts = [f"{name} {entry[key]:.2f}" + ("" if low <= entry[key] <= high else " (outside the band)")
                 for name, entry in found["targets"].items() if entry.get(key) is not None]  # fmt: skip
        if parts:
            say(f"fidelity at {found['budget']:g} core with {who} (req per CPU-second / on the whole cores, band {low:.2f}-{high:.2f}): "
                + ", ".join(parts))  # fmt: skip


def say_disturbed(records: list[StepRecord]) -> None:
    shaken = [r for r in records if r.status == "ok" and noise_of(r)[0]]
    if shaken:
        console.print(f"[bold yellow]{len(shaken)} steps disturbed: re-run[/] (other processes used the lab's cores; marked ! in the report)")
