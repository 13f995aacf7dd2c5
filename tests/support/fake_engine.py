"""A fake engine for the runner's own rules: no server, no Locust, no database.

It implements lab/engines/base.py's interfaces with scripted behaviour (a target that fails to
start, fails the contract, has no database, dies; a worker lost in a given step; Ctrl-C in a
given step) and records what the runner asked of it, so tests/test_runner_rules.py can check
the runner's sequencing in seconds. The real engines are tested end to end elsewhere.
"""

from dataclasses import dataclass, field
from pathlib import Path

from lab.catalog import Service
from lab.engines.base import Engine, Generator, Sampler, Target
from lab.errors import LabError
from lab.load.locust import Window
from lab.settings import GeneratorSettings

STATS_CSV = (
    "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,"
    "Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
    "GET,/json,500,0,3,3.3,1.7,31.6,29.0,100.0,0.0,3,3,4,4,4,4,5,5,32,32,32\n"
    ",Aggregated,500,0,3,3.3,1.7,31.6,29.0,100.0,0.0,3,3,4,4,4,4,5,5,32,32,32\n"
)


@dataclass
class Script:
    """What goes wrong, and where; `calls` is what the runner did, in order."""

    fails_to_start: set[str] = field(default_factory=set)
    fails_contract: set[str] = field(default_factory=set)
    no_database: set[str] = field(default_factory=set)
    dies_in_window: dict[str, int] = field(default_factory=dict)  # target -> its nth window (1-based)
    worker_lost_in_window: int | None = None  # the nth window of the run
    interrupt_in_window: int | None = None
    # What the engine's sweep finds before the run: lines to say, or a refusal (another run is live).
    sweep: list[str] | str = field(default_factory=list)
    calls: list[tuple] = field(default_factory=list)
    windows: int = 0


class FakeSampler(Sampler):
    def __init__(self):
        super().__init__(interval=0.01)
        self.cpu = 0.0

    def sample(self):
        self.cpu += 0.01
        return self.cpu, 50 * 2**20


class FakeTarget(Target):
    def __init__(self, framework: Service, script: Script, cpus: float):
        self.framework, self.script, self.cpus = framework, script, cpus
        self.url = self.load_url = f"http://fake-{framework.name}"
        self.log_name = "its fake log"
        self.running = False
        self.windows = 0

    def start(self):
        self.script.calls.append(("start", self.name))
        if self.name in self.script.fails_to_start:
            raise LabError(f"{self.name}: server exited (code 1) before it was healthy")
        self.running = True

    def wait_healthy(self, timeout: float = 60):
        pass

    def settle(self):
        pass

    def alive(self):
        return self.running

    def exit_reason(self):
        return "server exited (code -9)"

    def log_tail(self, lines=15):
        return "(fake log)"

    def describe(self):
        return {"engine": "fake", "workers": 1, "command_line": ["fake", self.name], "cores": [0]}

    def sampler(self):
        return FakeSampler()

    def limit(self, cpus):
        self.script.calls.append(("limit", self.name, cpus))
        self.cpus = float(cpus or 1)
        return self.cpu_limit()

    def cpu_limit(self):
        return {"method": "fake", "cpus": self.cpus}

    def cpu_seconds(self):
        return None  # no cgroup: fidelity is not measured on the fake engine

    def pid(self):
        return None

    def stop(self):
        if self.running:
            self.script.calls.append(("stop", self.name))
        self.running = False


class FakeMaster:
    def __init__(self, engine: "FakeEngine"):
        self.engine = engine

    def measure(self, user_class, host, users, duration, workers, warmup=0, tick=lambda stats: None, options=None) -> Window:
        script = self.engine.script
        script.windows += 1
        script.calls.append(("window", host.removeprefix("http://fake-"), user_class, users, warmup))
        if script.interrupt_in_window == script.windows:
            raise KeyboardInterrupt
        name = host.removeprefix("http://fake-")
        target = self.engine.targets[name]
        target.windows += 1
        if script.dies_in_window.get(name) == target.windows:
            target.running = False
        stop = {"window_start": 1.0, "window_end": 1.0 + duration, "total_requests": 500, "total_failures": 0, "total_rps": 100.0,
                "workers": [{"id": "w1", "requests": 500, "failures": 0, "cpu_percent": 40.0, "demand_percent": 45.0}]}  # fmt: skip
        problems = ["Locust worker w1 was lost during the step (missing)"] if script.worker_lost_in_window == script.windows else []
        csv = {"stats": STATS_CSV, "failures": "Method,Name,Error,Occurrences\n", "exceptions": "Count,Message,Traceback,Nodes\n"}
        return Window(csv=csv, start={"workers": ["w1"]}, stop=stop, stats={"state": "stopped"}, problems=problems)


class FakeGenerator(Generator):
    def __init__(self, engine: "FakeEngine"):
        self.engine = engine
        self.web_url = "http://fake-master"
        self.workers = 1
        self.settings = GeneratorSettings()

    def start(self):
        self.engine.script.calls.append(("locust", "start"))

    def problem(self):
        return None

    def master(self):
        return FakeMaster(self.engine)

    def ensure_workers(self):
        self.engine.script.calls.append(("locust", "ensure_workers"))

    def sampler(self):
        return FakeSampler()

    def describe(self):
        return {"engine": "fake", "workers": 1}

    def log_tail(self, lines=15):
        return ""

    def stop(self):
        self.engine.script.calls.append(("locust", "stop"))


class FakeEngine(Engine):
    name = "fake"

    def __init__(self, run_dir: Path, script: Script):
        self.run_dir, self.script = run_dir, script
        self.targets: dict[str, FakeTarget] = {}

    def target(self, framework, cores, env=None, cpus=None):
        self.targets[framework.name] = FakeTarget(framework, self.script, float(cpus or len(cores)))
        return self.targets[framework.name]

    def generator(self, cores):
        return FakeGenerator(self)

    def database_server(self):
        return "postgresql://postgres@127.0.0.1:1/postgres"  # nothing listens on port 1: refused at once

    def describe(self):
        return {"name": "fake"}

    def sweep(self):
        self.script.calls.append(("engine", "sweep"))
        if isinstance(self.script.sweep, str):
            raise LabError(self.script.sweep)
        return self.script.sweep

    def close(self):
        self.script.calls.append(("engine", "close"))


class FakeGate:
    """The conformance gate's answers, from the script."""

    def __init__(self, script: Script):
        self.script = script

    def database_status(self, target):
        if target.name in self.script.no_database:
            return {"available": False, "reason": "database: connection refused"}
        return {"available": True, "pool_size": None}

    def failures(self, target, with_database):
        return [f"GET /json: status 500, expected 200 ({target.name})"] if target.name in self.script.fails_contract else []
