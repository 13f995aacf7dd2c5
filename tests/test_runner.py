"""The runner's pure parts: matrix order, core planning, catalog discovery, bad options."""

import subprocess
import sys

import pytest
from conftest import ROOT

from lab import catalog
from lab.errors import LabError
from lab.run.plan import Options, build_matrix, make_plan, parse_cores, plan_cores, resolve


def test_matrix_is_interleaved_so_drift_hits_every_framework():
    steps = build_matrix(["a", "b", "c"], ["json"], [8, 32], repeats=2)
    assert [(s.framework, s.users, s.repeat) for s in steps[:6]] == [
        ("a", 8, 1), ("b", 8, 1), ("c", 8, 1), ("a", 32, 1), ("b", 32, 1), ("c", 32, 1),
    ]  # fmt: skip
    assert len(steps) == 12 and steps[6].repeat == 2


def test_parse_cores_accepts_lists_and_ranges():
    assert parse_cores("0") == [0]
    assert parse_cores("0,2-3") == [0, 2, 3]
    assert parse_cores(None) is None
    with pytest.raises(LabError, match="cannot read cores 'x'"):
        parse_cores("x")


@pytest.mark.parametrize(
    "text, message",
    [("1-0", r"the range 1-0 goes down; write it low-high, e\.g\. 0-1"), ("0-3000000", "core 3000000 is beyond any machine's"),
     ("-1", "cannot read cores"), ("0,,1", "cannot read cores"), ("١", "cannot read cores")],
)  # fmt: skip
def test_parse_cores_refuses_at_once_what_no_machine_has(text, message):
    with pytest.raises(LabError, match=message):
        parse_cores(text)


def test_plan_cores_defaults_to_one_server_core_and_the_next_ones_for_locust():
    assert plan_cores(None, None, [0, 1]) == ([0], [1])
    # More cores: Locust gets several (one worker each), the last is left to the runner and the system.
    assert plan_cores(None, None, [0, 1, 2, 3]) == ([0], [1, 2])


def test_plan_cores_refuses_overlap_and_missing_cores_and_says_what_works():
    with pytest.raises(LabError, match=r"overlap on \[1\].*SERVER_CORES=0 LOCUST_CORES=1"):
        plan_cores([0, 1], [1], [0, 1])
    with pytest.raises(LabError, match=r"cores \[7\] do not exist here; usable cores are \[0, 1\]"):
        plan_cores([7], None, [0, 1])
    with pytest.raises(LabError, match="need one each"):
        plan_cores(None, None, [0])


def test_catalog_finds_every_framework_and_scenario_from_the_tree():
    frameworks = catalog.frameworks()
    assert list(frameworks) == ["fastapi", "flask", "django"]
    assert [f.port for f in frameworks.values()] == [8001, 8002, 8003]
    for framework in frameworks.values():
        assert framework.start_command.exists()
    scenarios = catalog.scenarios()
    assert {"json", "plaintext", "io", "cpu", "validate"} <= set(scenarios)
    assert all(s.description for s in scenarios.values())


def test_variants_run_their_frameworks_app_and_every_server_has_its_ceiling():
    services = catalog.services()
    targets = catalog.targets()
    variants = {name: s for name, s in services.items() if s.kind == "variant"}
    # The list: Django's async views, Quart, FastAPI under Gunicorn and on Granian, Flask and
    # Django on Granian and on Gunicorn gthread.
    assert {"django-asgi", "quart", "fastapi-gunicorn", "fastapi-granian", "flask-granian", "flask-gthread",
            "django-granian", "django-gthread"} <= set(variants)  # fmt: skip
    # And the framework tax's rungs (issue 25): frameworks of their own, with their own app code.
    assert {name: (variants[name].framework, variants[name].app) for name in ("starlette", "litestar", "falcon")} == {
        "starlette": ("starlette", ""), "litestar": ("litestar", ""), "falcon": ("falcon", "")}  # fmt: skip
    for service in variants.values():
        if service.app:  # the framework's own code, not a copy: its folder holds the start command only
            assert services[service.app].framework == service.framework, service.name
            assert not list(service.folder.glob("*.py")), f"{service.name} copies app code"
    # Every server a framework runs on has a bare app on it, the same server and interface.
    for service in targets.values():
        baseline = services[service.baseline]
        assert baseline.kind == "baseline", service.name
        assert (baseline.server, baseline.interface) == (service.server, service.interface), service.name
    # Ports: one each, and the blog's three keep theirs.
    assert len({s.port for s in services.values()}) == len(services)


def test_every_tax_ladder_is_one_server_under_more_and_more_framework():
    """analysis/tax.py's ladders name services that exist: the bare app first, then targets that run
    on its server (their baseline), each with a framework's module the flame graphs know."""
    from analysis import flames, tax

    services = catalog.services()
    for label, (bare, *rungs) in tax.LADDERS:
        assert services[bare].kind == "baseline", label
        for name in rungs:
            assert services[name].kind in ("framework", "variant") and services[name].baseline == bare, f"{label}: {name}"
            assert services[name].framework in flames.LAYERS["framework"], f"{label}: {name}"
    # The ladders' own rungs run only with FRAMEWORKS=all (the servers profile), never by default.
    ladders = {name for _, rungs in tax.LADDERS for name in rungs}
    assert {"starlette", "litestar", "falcon"} <= ladders
    assert not ({"starlette", "litestar", "falcon"} & set(catalog.frameworks()))
    assert {"starlette", "litestar", "falcon"} <= set(catalog.targets())


def test_frameworks_all_or_a_variant_and_the_servers_profile():
    default = make_plan(Options(profile="quick"), usable=[0, 1])
    assert [f.name for f in default.frameworks] == ["fastapi", "flask", "django"]
    servers = make_plan(Options(profile="servers"), usable=[0, 1])
    assert [f.name for f in servers.frameworks] == list(catalog.targets())
    assert [s.name for s in servers.scenarios] == ["json", "io", "validate", "db", "queries"]
    picked = make_plan(Options(profile="quick", frameworks="quart,django-asgi"), usable=[0, 1])
    assert [f.name for f in picked.frameworks] == ["quart", "django-asgi"]
    assert make_plan(Options(profile="smoke", frameworks="all"), usable=[0, 1]).frameworks == servers.frameworks
    with pytest.raises(LabError, match=r"unknown framework 'bare-asgi'; valid: fastapi, flask, django, .*quart.*, or all"):
        make_plan(Options(profile="quick", frameworks="bare-asgi"), usable=[0, 1])


def test_every_profile_names_existing_scenarios():
    for name in catalog.profiles():
        profile, frameworks, scenarios = resolve(Options(profile=name))
        assert scenarios and frameworks


def test_the_profiles_fit_their_promised_times_on_two_cores():
    # The plan's own estimate (measured per-step overhead): smoke under a minute, quick (with its
    # calibration) under eleven, with room for starting the targets and Locust.
    for name, limit in (("smoke", 60 - 20), ("quick", 660 - 40)):
        plan = make_plan(Options(profile=name), usable=[0, 1])
        # quick: every window at least 5 s and three repeats (smoke only proves the lab works).
        assert name == "smoke" or (plan.duration >= 5 and plan.repeats >= 3)
        wrk = plan.profile.settings.get("wrk", True)
        assert plan.calibration_seconds() + plan.step_seconds(wrk) + plan.ceiling_seconds(wrk) <= limit, name


@pytest.mark.parametrize(
    "args, message",
    [
        (["--profile", "nope"], "unknown profile 'nope'; valid: smoke, quick, full"),
        (["--frameworks", "rails"], "unknown framework 'rails'; valid: fastapi, flask, django"),
        (["--scenarios", "json,graphql"], "unknown scenario 'graphql'; valid:"),
        (["--engine", "swarm"], "unknown engine 'swarm'"),
        (["--users", "0"], "users '0': expected comma-separated whole numbers from 1 to"),
        (["--users", "-4"], "users '-4': expected"),
        (["--users", "8,,32"], "users '8,,32': expected"),
        (["--duration", "0"], "duration (seconds) 0: expected a whole number from 1 to"),
        (["--duration", "-5"], "duration (seconds) -5: expected"),
        (["--repeats", "0"], "repeats 0: expected a whole number from 1 to"),
        (["--repeats", "-1"], "repeats -1: expected"),
        (["--warmup", "-1"], "warm-up (seconds) -1: expected"),
        (["--frameworks", ""], "frameworks '' names no framework; valid: fastapi, flask, django"),
        (["--frameworks", ",,,"], "frameworks ',,,' names no framework; valid:"),
        (["--scenarios", ","], "scenarios ',' names no scenario; valid:"),
        (["--server-cores", "1-0"], "the range 1-0 goes down"),
        (["--server-cores", "0-3000000"], "core 3000000 is beyond any machine's"),
        (["--server-cores", "0", "--locust-cores", "0"], "overlap on [0]"),
    ],
)
def test_bad_options_give_one_clear_line(args, message, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lab", "bench", "--results", str(tmp_path), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in " ".join(result.stdout.split())
    assert "Traceback" not in result.stdout + result.stderr
    assert not any(tmp_path.iterdir()), "a refused run must not leave a run folder"


def test_more_connections_than_postgres_allows_is_a_warning_naming_the_largest():
    from lab.run.preflight import connections_problem

    targets = {"django-granian": {"database": {"connections": 60}}, "quart": {"database": {"connections": 50}}, "bare": {}}
    problem = connections_problem(targets, "100")
    assert "110 database connections" in problem and "django-granian 60, quart 50" in problem and "max_connections of 100" in problem
    assert connections_problem(targets, "200") is None
    assert connections_problem(targets, None) is None  # the database was not described: nothing to compare


def test_each_server_is_pinned_to_one_version_in_every_service():
    """A variant and the bare app on its server must run the same server: one pin per package."""
    pins: dict[str, set[str]] = {}
    for requirements in sorted((ROOT / "services").glob("*/*.in")):
        for line in requirements.read_text().splitlines():
            name, _, version = line.partition("==")
            if version:
                pins.setdefault(name.split("[")[0].strip().lower(), set()).add(version.strip())
    assert {"gunicorn", "granian", "hypercorn", "uvicorn", "uvloop", "uvicorn-worker"} <= set(pins)
    assert {name: versions for name, versions in pins.items() if len(versions) > 1} == {}
