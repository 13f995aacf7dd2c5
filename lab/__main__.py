"""Command line of the lab: `python -m lab bench|serve|check|list|latency` (the Makefile wraps these)."""

import argparse
import os
import sys
import time
from pathlib import Path

from rich.console import Console

from records.layout import RESULTS
from records.rules import HEADROOM_GOAL

from . import catalog, latency
from .contract import conformance
from .engines import ENGINES, choose_engine
from .engines.processes import port_problem
from .errors import LabError
from .run.bench import EXIT_CODES, Bench
from .run.console import say
from .run.plan import Options, comma_list, make_plan, parse_cores
from .run.signals import interruptible

console = Console(highlight=False)


def cmd_bench(args) -> int:
    options = Options(
        profile=args.profile,
        engine=args.engine,
        frameworks=args.frameworks,
        scenarios=args.scenarios,
        server_cores=args.server_cores,
        server_cpus=args.server_cpus,
        locust_cores=args.locust_cores,
        results=Path(args.results),
        users=args.users,
        duration=args.duration,
        warmup=args.warmup,
        repeats=args.repeats,
        health_timeout=args.health_timeout,
    )
    # Bad options are refused before an engine is looked for; then "auto" becomes docker when a
    # Docker engine answers, else local, and "docker" with no engine is refused.
    make_plan(options)
    if options.engine not in ("auto", *ENGINES):
        raise LabError(f"unknown engine {options.engine!r}; valid: auto, {', '.join(ENGINES)}")
    options.engine = choose_engine(options.engine, say)
    run_dir, status = Bench(options).run()
    console.print(f"run folder: {run_dir}")
    if status != "complete":
        console.print(f"[bold yellow]run {status}[/]: " + {"partial": "some steps were skipped or failed (see above and the report)",
                                                           "empty": "nothing was measured"}.get(status, ""))  # fmt: skip
    return EXIT_CODES[status]


def cmd_serve(args) -> int:
    from .contract import database
    from .engines.local import LocalTarget

    frameworks = catalog.pick("framework", catalog.targets(), comma_list(args.frameworks) or list(catalog.frameworks()))
    cores = parse_cores(args.cores) or sorted(os.sched_getaffinity(0))
    logs = Path(args.results) / "serve"
    db_url = database.with_database(database.server_url(), database.BENCH_DATABASE)
    try:
        database.prepare()
    except LabError as problem:
        console.print(f"[yellow]{problem}[/]: the database endpoints will answer 503")
    targets = [LocalTarget(f, cores, logs / f"{f.name}.log", extra_env={"DATABASE_URL": db_url}) for f in frameworks]
    # SIGTERM stops the servers as Ctrl-C does, instead of leaving them on their ports; a second
    # signal (make passes them on) does not cut the cleanup short.
    with interruptible():
        return serve(targets)


def serve(targets) -> int:
    try:
        for target in targets:
            target.start()
        for target in targets:
            target.wait_healthy()
            console.print(f"{target.name:8} {target.url}  (log: {target.log_path})")
        console.print("serving; explore with `make ui` (Locust web UI on http://127.0.0.1:8089). Ctrl-C stops.")
        while all(target.alive() for target in targets):
            time.sleep(0.5)
        console.print("[red]a server exited; stopping the others[/]")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for target in targets:
            target.stop()


def cmd_check(args) -> int:
    # Default: the blog's three on their ports, and every variant that is serving (make serve FRAMEWORKS=...).
    urls = {name: url for name, url in (item.split("=", 1) for item in comma_list(args.urls) or [])} or {
        f.name: f.local_url for f in catalog.targets().values() if f.kind == "framework" or port_problem("127.0.0.1", f.port)
    }
    worst = 0
    for name, url in urls.items():
        status = conformance.database_status(url)
        if not status["available"]:
            console.print(f"{name:8} {url}: [yellow]{status['reason']}[/]: the database checks are left out")
        failures = conformance.run_all(url, conformance.CHECKS + (conformance.DB_CHECKS if status["available"] else []))
        console.print(f"{name:8} {url}: " + ("[green]conforms[/]" if not failures else f"[red]{len(failures)} failing check(s)[/]"))
        for failure in failures:
            console.print(f"    {failure}")
        worst = max(worst, 1 if failures else 0)
    return worst


def cmd_list(args) -> int:
    for kind, label in (("framework", "frameworks (the blog's setups)"), ("variant", "variants (FRAMEWORKS=...)"), ("baseline", "baselines (ceilings)")):
        console.print(f"{label}: " + ", ".join(f"{s.name} (:{s.port})" for s in catalog.services().values() if s.kind == kind))
    for scenario in catalog.scenarios().values():
        console.print(f"scenario {scenario.name:10} {scenario.description}")
    for profile in catalog.profiles().values():
        console.print(f"profile  {profile.name:10} {profile.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="run the benchmark matrix and write results/<run-id>/")
    bench.add_argument("--profile", default="quick", help=f"{', '.join(catalog.profiles())} (lab/run/profiles.toml)")
    bench.add_argument(
        "--engine", default="auto", help="auto (docker when a Docker engine answers, else local), docker (compose), local (processes on loopback) or k8s (a cluster: docs/kubernetes.md)"
    )
    bench.add_argument("--frameworks", help="comma-separated subset, e.g. fastapi,flask")
    bench.add_argument("--scenarios", help="comma-separated subset of the profile's scenarios")
    bench.add_argument("--server-cores", help="cores for the server under test, e.g. 0 or 0-1")
    bench.add_argument(
        "--budget",
        "--server-cpus",
        dest="server_cpus",
        help=f"the server's CPU budget: auto (calibrate: the largest at which Locust keeps {round(100 * (1 - HEADROOM_GOAL))}%% headroom), all (its cores), "
        "or a number of cores, e.g. 0.5 (default: the profile's)",
    )
    bench.add_argument("--locust-cores", help="cores for Locust, e.g. 1")
    bench.add_argument("--users", help="override the profile's user levels, e.g. 8,32")
    bench.add_argument("--duration", type=int, help="override the measured seconds per step")
    bench.add_argument("--warmup", type=int, help="override the warm-up seconds (0: none)")
    bench.add_argument("--repeats", type=int, help="override the repeats per step")
    bench.add_argument("--health-timeout", type=float, default=60, help="seconds a target may take to turn healthy on a whole core (longer in proportion on a fraction)")
    bench.add_argument("--results", default=str(RESULTS), help="results folder")
    bench.set_defaults(func=cmd_bench)

    serve = sub.add_parser("serve", help="start the services on loopback until Ctrl-C")
    serve.add_argument("--frameworks", help="comma-separated, variants too, or all (default: the blog's three)")
    serve.add_argument("--cores", help="cores for the servers (default: all)")
    serve.add_argument("--results", default=str(RESULTS))
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check", help="run the endpoint contract against running services")
    check.add_argument("--urls", help="name=url,... (default: the local ports)")
    check.set_defaults(func=cmd_check)

    sub.add_parser("list", help="frameworks, scenarios and profiles").set_defaults(func=cmd_list)

    latency.add_parser(sub)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except LabError as problem:
        console.print(f"[bold red]error:[/] {problem}")
        return 2
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
