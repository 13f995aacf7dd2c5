"""The run's targets: every framework and the bare baselines of their servers, started on the
server's cores, healthy, and through the conformance gate before any load.

A target that does not start, does not turn healthy or fails the contract is dropped with
the reason (its steps are then skipped); a target whose database is down stays, and only
its database steps are skipped.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from .. import catalog
from ..catalog import Service
from ..contract import conformance
from ..engines.base import Engine, Target
from ..errors import LabError


class ConformanceGate:
    """The endpoint contract (lab/contract/conformance.py) as the runner's gate."""

    def database_status(self, target: Target) -> dict:
        return conformance.database_status(target.url)

    def failures(self, target: Target, with_database: bool) -> list[str]:
        baseline = target.framework.kind == "baseline"
        checks = conformance.BASELINE_CHECKS if baseline else conformance.CHECKS + (conformance.DB_CHECKS if with_database else [])
        return conformance.run_all(target.url, checks, cpus=target.cpus)


class TargetSet:
    """Every target of a run, as one context manager: up on entry, stopped on exit."""

    def __init__(self, engine: Engine, frameworks: list[Service], cores: list[int], database_url: str | None,
                 gate, health_timeout: float, uses_database: bool, say: Callable[[str], None], with_baselines: bool = True,
                 cpus: float | None = None):  # fmt: skip
        self.engine = engine
        self.cores = cores
        # The server's CPU budget in cores (None: all of `cores`): every target gets the same.
        self.cpus = cpus
        self.database_url = database_url
        self.gate = gate
        self.health_timeout = health_timeout
        self.uses_database = uses_database
        self.say = say
        baselines = catalog.baselines()
        needed = [baselines[name] for name in dict.fromkeys(f.baseline for f in frameworks) if name in baselines] if with_baselines else []
        self.services = [*frameworks, *needed]
        self.targets: dict[str, Target] = {}
        self.unavailable: dict[str, str] = {}
        self.database_unavailable: dict[str, str] = {}
        # What the manifest records: section ("targets" or "baselines") -> name -> facts.
        self.records: dict[str, dict[str, dict]] = {"targets": {}, "baselines": {}}

    def __enter__(self) -> "TargetSet":
        try:
            # All start before any is waited for, so they boot side by side (containers from
            # several threads: each start takes seconds); then each is waited for and checked.
            if self.engine.parallel_start:
                with ThreadPoolExecutor(max_workers=len(self.services) or 1) as pool:
                    oks = list(pool.map(self.start, self.services))
            else:
                oks = [self.start(service) for service in self.services]
            started = [service for service, ok in zip(self.services, oks) if ok]
            for service in started:
                self.check(service)
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, service: Service) -> bool:
        target = self.engine.target(service, self.cores, {"DATABASE_URL": self.database_url} if self.database_url else {}, cpus=self.cpus)
        self.targets[service.name] = target
        budget = f", a budget of {self.cpus:g} cores" if self.cpus is not None and self.cpus < len(self.cores) else ""
        self.say(f"starting {service.name} ({service.summary}) on cores {self.cores}{budget}")
        try:
            target.start()
        except LabError as problem:
            self.drop(service.name, str(problem))
            return False
        return True

    def check(self, service: Service) -> None:
        """Healthy, and through the conformance gate; or dropped with the reason."""
        target = self.targets[service.name]
        try:
            # A server on a fraction of a core boots that much slower (Django: ~1 s on a core, ~10 s at 0.1).
            target.wait_healthy(self.health_timeout / min(target.cpus, 1.0))
        except LabError as problem:
            self.drop(service.name, str(problem))
            return
        db_status = self.gate.database_status(target) if service.kind != "baseline" else None
        if db_status and not db_status["available"]:
            self.database_unavailable[service.name] = db_status["reason"]
            if self.uses_database:
                self.say(f"[bold yellow]{service.name}: {db_status['reason']}[/] — its database steps are skipped")
        failures = self.gate.failures(target, bool(db_status and db_status["available"]))
        if failures:
            self.drop(service.name, "fails the endpoint contract:\n  " + "\n  ".join(failures))
            return
        record = {
            **target.describe(),
            "server": service.server,
            "interface": service.interface,
            "summary": service.summary,
            "baseline": service.baseline,
            "kind": service.kind,
            "framework": service.framework,
            "start_command_text": service.start_command.read_text(),
        }
        if db_status:
            pool = db_status.get("pool_size")
            db_status["connections"] = pool * record["workers"] if pool else None
            record["database"] = db_status
        self.records["baselines" if service.kind == "baseline" else "targets"][service.name] = record
        self.say(f"{service.name}: healthy, passes the contract, {record['workers']} worker(s)")

    def drop(self, name: str, reason: str) -> None:
        self.say(f"[bold red]{name}: {reason}[/] — its steps are skipped")
        self.unavailable[name] = reason
        target = self.targets.get(name)
        if target:
            target.stop()

    def limit(self, cpus: float) -> None:
        """Hold every running target to `cpus` cores from now on (a quota set on the running servers)."""
        for name, target in self.targets.items():
            if not self.ready(name):
                continue
            try:
                limit = target.limit(cpus)
            except LabError as problem:
                self.drop(name, str(problem))
                continue
            record = self.records["baselines" if target.framework.kind == "baseline" else "targets"].get(name)
            if record is not None:
                record.update(cpus=cpus, cpu_limit=limit)

    def ready(self, name: str) -> bool:
        return name in self.targets and name not in self.unavailable

    def baselines(self) -> list[str]:
        return [name for name in self.records["baselines"] if self.ready(name)]

    def stop(self) -> None:
        for target in self.targets.values():
            target.stop()
