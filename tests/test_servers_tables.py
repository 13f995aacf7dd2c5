"""The "framework or server?" tables (analysis/servers.py) on constructed peaks: which rows, which
ratios, which ranges, and the sentence that answers the question."""

import pandas as pd
import pytest

from analysis import servers

# target -> (framework, server, interface, kind)
SETUPS = {
    "fastapi": ("fastapi", "uvicorn", "ASGI", "framework"),
    "fastapi-granian": ("fastapi", "granian", "ASGI", "variant"),
    "flask": ("flask", "gunicorn sync", "WSGI", "framework"),
    "flask-granian": ("flask", "granian", "WSGI", "variant"),
    "quart": ("quart", "hypercorn", "ASGI", "variant"),
}
MANIFEST = {
    "targets": {
        name: {"framework": framework, "server": server, "interface": interface, "kind": kind, "baseline": f"bare-{server}"}
        for name, (framework, server, interface, kind) in SETUPS.items()
    }
}


def level(name: str, rps: float, spread: float = 0.0, scenario: str = "json", bound: bool = False) -> dict:
    return {"kind": "step", "scenario": scenario, "framework": name, "users": 32, "rps": rps,
            "rps_q25": rps * (1 - spread), "rps_q75": rps * (1 + spread),
            "generator_bound": bound, "unstable": False, "disturbed": False}  # fmt: skip


LEVELS = pd.DataFrame(
    [
        level("fastapi", 3000, 0.02),
        level("fastapi-granian", 3300, 0.02),
        level("flask", 1000, 0.05),
        level("flask-granian", 2000, 0.05, bound=True),
        level("quart", 900),
        level("flask", 500, scenario="io"),  # another scenario: not in json's tables
    ]
)


def test_same_framework_puts_each_server_against_the_blogs_setup_with_its_range():
    table = servers.same_framework(servers.peaks(LEVELS, "json", MANIFEST), {"bare-granian": 4000.0, "bare-uvicorn": None})
    assert list(table.index) == ["fastapi-granian", "fastapi", "flask-granian", "flask"]  # quart: one server only
    assert table.loc["flask", "× the blog's setup"] == "1.00 (0.90–1.11)"
    # 2000 / 1000, from 1900 / 1050 to 2100 / 950: the quartiles crossed.
    assert table.loc["flask-granian", "× the blog's setup"] == "2.00 (1.81–2.21)"
    assert table.loc["flask-granian", "peak req/s"] == "2,000†"  # the marks travel with the number
    assert table.loc["flask-granian", "server"] == "granian (WSGI)"
    assert table.loc["flask-granian", "share of its server's ceiling"] == "0.50"
    assert table.loc["fastapi", "share of its server's ceiling"] == ""  # no wrk figure: no share


def test_same_server_puts_each_framework_against_the_fastest_on_it():
    table = servers.same_server(servers.peaks(LEVELS, "json", MANIFEST))
    assert list(table.index) == ["fastapi-granian", "flask-granian"]  # only granian ran two frameworks
    assert table.loc["fastapi-granian", "× the fastest here"] == "1.00 (0.96–1.04)"
    assert table.loc["flask-granian", "framework"] == "flask (WSGI)"
    assert table.loc["flask-granian", "× the fastest here"].startswith("0.61 ")


@pytest.mark.parametrize(
    "flask_granian, expected",
    [
        pytest.param(2000, "the server moves the numbers more than the framework does", id="server-wider"),
        pytest.param(1100, "the framework moves the numbers more than the server does", id="framework-wider"),
    ],
)
def test_the_answer_names_the_wider_of_the_two_effects(flask_granian, expected):
    levels = LEVELS.copy()
    levels.loc[levels["framework"] == "flask-granian", ["rps", "rps_q25", "rps_q75", "generator_bound"]] = [flask_granian] * 3 + [False]
    sentence = servers.answer(servers.peaks(levels, "json", MANIFEST), "json")
    assert expected in sentence
    assert sentence.startswith("On json, ")


def test_no_answer_rests_on_a_generator_bound_number():
    # flask-granian (†) is the only second framework on granian: without it, nothing to compare there.
    assert servers.answer(servers.peaks(LEVELS, "json", MANIFEST), "json") is None


def test_a_run_of_the_blogs_setups_only_has_no_such_tables():
    # Before variants, a manifest named no framework: each target is its own, on its own server.
    old = {"targets": {name: {"server": server, "interface": interface} for name, (_, server, interface, _) in SETUPS.items() if "-" not in name}}
    levels = LEVELS[LEVELS["framework"].isin(old["targets"])]
    assert servers.same_framework(servers.peaks(levels, "json", old), {}).empty
    assert servers.same_server(servers.peaks(levels, "json", old)).empty
    assert servers.answer(servers.peaks(levels, "json", old), "json") is None
