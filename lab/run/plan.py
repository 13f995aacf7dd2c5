"""What a run will do, decided before anything starts: options checked, the profile read, the
cores split between server and generator, the matrix of steps in its order, the time it takes.

Everything here is pure: a bad option is refused here, with what is valid, before a folder is
made or a process started.
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from records.layout import RESULTS
from records.run import MAX_DURATION, MAX_REPEATS, MAX_USERS

from .. import catalog
from ..catalog import Service, Profile, Scenario
from ..engines.cgroups import MIN_CPUS
from ..errors import LabError
from .calibrate import PROBE_SECONDS
from .reference import SECONDS as REFERENCE_SECONDS

# Scenarios the bare baseline apps answer, so they can give a ceiling.
CEILING_SCENARIOS = ("json", "plaintext")
# Bounds of the options (records/run.py's, so the analysis reads what the runner accepts): a typo
# (a million users, a year-long step) is refused.
MAX_CORE = 4095

# Wall time of one step beyond its measured window, for the time-left estimate: the ramp
# (the master reports all users running about 2 s after /swarm, then one second to settle),
# the window's start and stop (Locust's stop loop sleeps a second), the CSV downloads.
# Measured on a 2-core machine (step.json locust.phases_s); lab/load/locust.py.
STEP_OVERHEAD_SECONDS = 2.8
WRK_OVERHEAD_SECONDS = 0.3
# A whole-core reference beyond its wrk window (lab/run/reference.py): lifting the quota and setting it
# again (a container update, ~0.3 s).
REFERENCE_OVERHEAD_SECONDS = 0.8


@dataclass
class Options:
    """What the person asked for, as given (None: the profile's or the machine's default)."""

    profile: str = "quick"
    engine: str = "local"
    frameworks: str | None = None  # comma-separated, as typed
    scenarios: str | None = None
    server_cores: str | None = None
    # The server's CPU budget: "auto" (calibrated, lab/run/calibrate.py), "all" (all of its cores) or a
    # number of cores, a fraction allowed; None: the profile's `budget`.
    server_cpus: str | None = None
    locust_cores: str | None = None
    results: Path = RESULTS
    # Overrides of the profile, mainly for tests.
    users: str | None = None
    duration: int | None = None
    warmup: int | None = None
    repeats: int | None = None
    # How long a target may take to answer /health 200 before it is given up on.
    health_timeout: float = 60


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
class Plan:
    profile: Profile
    frameworks: list[Service]
    scenarios: list[Scenario]
    users: list[int]
    duration: int
    warmup: int
    repeats: int
    server_cores: list[int]
    locust_cores: list[int]
    ceilings: bool
    # The server's CPU budget in cores: len(server_cores), or less (a CPU quota holds it there).
    # With budget "auto" this is the budget the probes run at, until calibration picks one.
    server_cpus: float = 0.0
    # "auto": calibrate and pick; "explicit": as given; "all": the server's cores.
    budget: str = "all"
    # Probe the targets before the matrix (auto always; an explicit budget is then checked too).
    calibrate: bool = False
    steps: list[Step] = field(default_factory=list)

    @property
    def scenario_by_name(self) -> dict[str, Scenario]:
        return {s.name: s for s in self.scenarios}

    def ceiling_scenarios(self) -> list[Scenario]:
        """The run's scenarios a bare app answers (json when none is in the run)."""
        names = [s.name for s in self.scenarios if s.name in CEILING_SCENARIOS] or ["json"]
        return [catalog.scenarios()[name] for name in names]

    def step_seconds(self, wrk: bool) -> float:
        """Expected wall time of the matrix's steps (warm-ups, wrk and the references included), for the time-left estimate."""
        total = len(self.steps) * (STEP_OVERHEAD_SECONDS + self.duration) + len(self.frameworks) * len(self.scenarios) * self.warmup
        if wrk:
            seconds = min(self.duration, REFERENCE_SECONDS)
            # Once per framework on each other scenario wrk can replay (at the highest level, repeat 1) ...
            total += sum(1 for s in self.scenarios if s.wrk_path and s.name != "json") * len(self.frameworks) * (self.duration + WRK_OVERHEAD_SECONDS)
            # ... and around each json step at the highest level: the whole-core reference before and
            # after it, and wrk at the budget in between (lab/run/reference.py).
            references = sum(1 for step in self.steps if step.scenario == "json" and step.users == max(self.users))
            total += references * (2 * (seconds + REFERENCE_OVERHEAD_SECONDS) + seconds + WRK_OVERHEAD_SECONDS)
        return total

    def calibration_seconds(self) -> float:
        """Probing every framework (the budget is then set on the running servers)."""
        if not self.calibrate:
            return 0
        probes = len(self.frameworks) * len(self.ceiling_scenarios())
        return probes * (STEP_OVERHEAD_SECONDS + PROBE_SECONDS + self.warmup)

    def baselines(self) -> set[str]:
        return {f.baseline for f in self.frameworks if f.baseline}

    def profile_seconds(self) -> float:
        """The profiled windows after the steps (lab/run/profiling.py), where the profile asks for them."""
        if not self.profile.settings.get("profile_cpu"):
            return 0
        profiled = [s for s in self.scenarios if s.name in ("json", "validate")]
        return len(self.frameworks) * len(profiled) * (STEP_OVERHEAD_SECONDS + self.duration)

    def ceiling_seconds(self, wrk: bool = False) -> float:
        if not self.ceilings:
            return 0
        each = STEP_OVERHEAD_SECONDS + self.duration + self.warmup + ((self.duration + WRK_OVERHEAD_SECONDS) if wrk else 0)
        references = len(self.baselines()) * 2 * (min(self.duration, REFERENCE_SECONDS) + REFERENCE_OVERHEAD_SECONDS) if wrk and "json" in [s.name for s in self.ceiling_scenarios()] else 0
        return len(self.baselines()) * len(self.ceiling_scenarios()) * each + references


def whole_numbers(text: str | None, what: str, low: int, high: int) -> list[int] | None:
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isascii() and part.isdigit() and low <= int(part) <= high for part in parts):
        raise LabError(f"{what} {text!r}: expected comma-separated whole numbers from {low} to {high}, e.g. 8,32")
    return [int(part) for part in parts]


def bounded(value: int | None, what: str, low: int, high: int) -> int | None:
    if value is not None and not low <= value <= high:
        raise LabError(f"{what} {value}: expected a whole number from {low} to {high}")
    return value


def comma_list(text: str | None) -> list[str] | None:
    """A comma-separated list as typed, blanks dropped; None when not given."""
    return None if text is None else [part.strip() for part in text.split(",") if part.strip()]


def names(text: str | None, kind: str, available: dict) -> list[str] | None:
    """A comma-separated list as typed; None when not given, refused when it names nothing."""
    if text is None:
        return None
    picked = comma_list(text)
    if not picked:
        raise LabError(f"{kind}s {text!r} names no {kind}; valid: {', '.join(available)}")
    return picked


def parse_cores(text: str | None) -> list[int] | None:
    """'0', '0,1' or '2-3' -> [0], [0, 1], [2, 3]; a range must go up, and stay below MAX_CORE."""
    if text is None or not text.strip():
        return None
    cores: list[int] = []
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if not (low.isascii() and low.isdigit() and (not high or (high.isascii() and high.isdigit()))):
            raise LabError(f"cannot read cores {text!r}: use a list like 0 or 0,1 or 2-3")
        first, last = int(low), int(high or low)
        if last < first:
            raise LabError(f"cores {text!r}: the range {part.strip()} goes down; write it low-high, e.g. {last}-{first}")
        if last > MAX_CORE:
            raise LabError(f"cores {text!r}: core {last} is beyond any machine's; this one has {sorted(os.sched_getaffinity(0))}")
        cores.extend(range(first, last + 1))
    return sorted(set(cores))


# Locust's default cores on a bigger machine: the cores after the server's, up to this many (one
# worker process each), leaving the last core to the runner and the system. On 8 cores: server
# on 0, Locust on 1-6: enough for a server's whole core with no quota (docs/budget.md, "Whole cores when the machine has them").
MAX_DEFAULT_LOCUST_CORES = 6


def plan_cores(server: list[int] | None, generator: list[int] | None, usable: list[int]) -> tuple[list[int], list[int]]:
    """Server and Locust on separate cores; refuse what this machine cannot give.

    By default the server gets one core and Locust the next ones (2 cores: one; 3: one; 4: two;
    8: six), so that on a bigger machine the server keeps a whole core with no quota."""
    if len(usable) < 2:
        raise LabError(
            f"this machine lets the lab use {len(usable)} core ({usable}); the server and Locust need one each, "
            "on separate cores, or the generator steals the server's CPU. Run on a machine with 2 or more cores."
        )
    server = server or [usable[0]]
    if not generator:
        rest = [core for core in usable if core not in server]
        generator = rest[: max(1, min(len(rest) - 1, MAX_DEFAULT_LOCUST_CORES))] or [usable[-1]]
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


# A budget as typed: digits with an optional decimal part, nothing else (no sign, exponent, nan or inf).
BUDGET = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")


BUDGET_WORDS = ("auto", "all")


def parse_budget(text: str | None, server_cores: list[int]) -> tuple[str, float]:
    """SERVER_CPUS: "auto", "all" or a positive number of cores, at most the server's cores.

    (mode, cores): "auto" starts at all of the server's cores, the probes' budget."""
    cores = len(server_cores)
    named = f"SERVER_CORES={','.join(map(str, server_cores))}"
    works = f"use auto, all, or a number from {MIN_CPUS:g} to {cores}, e.g. 0.5 or {cores}"
    text = (text or "").strip()
    if not text or text in BUDGET_WORDS:
        return text or "all", float(cores)
    if not BUDGET.fullmatch(text):
        raise LabError(f"server budget {text!r} is not a number of cores; {works}")
    cpus = float(text)
    if cpus <= 0:
        raise LabError(f"server budget {text} cores leaves the server no CPU; {works}")
    if cpus < MIN_CPUS:
        raise LabError(
            f"server budget {text} cores is below {MIN_CPUS:g}, the smallest budget the lab holds a server to "
            f"(below it a framework answers the contract too slowly to tell from a broken one); use {MIN_CPUS:g} to {cores}"
        )
    if cpus > cores:
        plural = "core" if cores == 1 else "cores"
        raise LabError(f"server budget {text} cores is more than the {cores} server {plural} ({named}); use at most {cores}, or give more cores")
    return "explicit", cpus


def build_matrix(frameworks: list[str], scenarios: list[str], users: list[int], repeats: int) -> list[Step]:
    """Interleaved: every framework at one level before the next level, every repeat after
    the last, so slow drift of the machine hits all frameworks alike."""
    return [
        Step(framework, scenario, level, repeat)
        for repeat in range(1, repeats + 1)
        for scenario in scenarios
        for level in users
        for framework in frameworks
    ]


def resolve(options: Options) -> tuple[Profile, list[Service], list[Scenario]]:
    profiles = catalog.profiles()
    if options.profile not in profiles:
        raise LabError(f"unknown profile {options.profile!r}; valid: {', '.join(profiles)}")
    profile = profiles[options.profile]
    # The blog's three unless the profile or FRAMEWORKS names others (variants too; "all": every one).
    all_frameworks = catalog.targets()
    wanted = names(options.frameworks, "framework", all_frameworks) or profile.frameworks or list(catalog.frameworks())
    frameworks = catalog.pick("framework", all_frameworks, wanted)
    all_scenarios = catalog.scenarios()
    unknown = [name for name in profile.scenarios if name not in all_scenarios]
    if unknown:
        raise LabError(f"profile {profile.name!r} in {catalog.PROFILES} names unknown scenarios {unknown}; valid: {', '.join(all_scenarios)}")
    scenarios = catalog.pick("scenario", all_scenarios, names(options.scenarios, "scenario", all_scenarios) or profile.scenarios)
    return profile, frameworks, scenarios


def make_plan(options: Options, usable: list[int] | None = None) -> Plan:
    profile, frameworks, scenarios = resolve(options)
    users = whole_numbers(options.users, "users", 1, MAX_USERS) or profile.users
    duration = bounded(options.duration, "duration (seconds)", 1, MAX_DURATION) or profile.duration
    warmup = profile.warmup if options.warmup is None else bounded(options.warmup, "warm-up (seconds)", 0, MAX_DURATION)
    repeats = bounded(options.repeats, "repeats", 1, MAX_REPEATS) or profile.repeats
    usable = usable if usable is not None else sorted(os.sched_getaffinity(0))
    server_cores, locust_cores = plan_cores(parse_cores(options.server_cores), parse_cores(options.locust_cores), usable)
    # The profile's budget: "auto" there means its runs are calibrated, and a budget given is checked.
    default = str(profile.settings.get("budget", "all"))
    budget, cpus = parse_budget(options.server_cpus if options.server_cpus is not None else default, server_cores)
    plan = Plan(profile, frameworks, scenarios, users, duration, warmup, repeats, server_cores, locust_cores,
                ceilings=bool(profile.settings.get("ceilings", True)), server_cpus=cpus, budget=budget,
                calibrate=budget == "auto" or default == "auto")  # fmt: skip
    plan.steps = build_matrix([f.name for f in frameworks], [s.name for s in scenarios], users, repeats)
    return plan
