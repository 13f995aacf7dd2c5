"""A real run of the servers profile, cut down: Flask on two servers, Quart, Django on WSGI and
with its async views, on io; then the report's "framework or server?" tables and the async claims."""

import json
import subprocess
import sys

import pytest
from conftest import ROOT

from analysis import report as report_module
from analysis import servers
from analysis.claims import HOLDS, NOT_TESTED, check_claims

pytestmark = pytest.mark.e2e

PICKED = ["flask", "flask-granian", "quart", "django", "django-asgi"]


@pytest.fixture(scope="module")
def servers_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    command = [
        sys.executable, "-m", "lab", "bench", "--engine", "local", "--profile", "servers", "--frameworks", ",".join(PICKED),
        "--scenarios", "io", "--users", "16", "--duration", "2", "--warmup", "1", "--repeats", "2", "--budget", "0.5",
        "--results", str(results),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


def test_each_variant_ran_its_frameworks_app_on_its_server_against_its_servers_ceiling(servers_run):
    manifest = json.loads((servers_run / "manifest.json").read_text())
    assert manifest["status"] == "complete"
    targets = manifest["targets"]
    assert list(targets) == PICKED
    assert (targets["flask-granian"]["framework"], targets["flask-granian"]["server"]) == ("flask", "granian")
    assert "granian" in " ".join(targets["flask-granian"]["command_line"]) and "app:limited" in targets["flask-granian"]["command_line"]
    assert (targets["django-asgi"]["framework"], targets["django-asgi"]["interface"]) == ("django", "ASGI")
    assert targets["quart"]["workers"] == 1  # Hypercorn's resource tracker is not a worker
    # The servers the picked targets run on, each with its bare app.
    assert set(manifest["baselines"]) == {"bare-wsgi", "bare-wsgi-granian", "bare-asgi-hypercorn", "bare-asgi"}


def test_the_report_answers_framework_or_server_and_judges_the_async_claims(servers_run):
    built = report_module.build(servers_run)
    text = (servers_run / "report" / "report.md").read_text()
    assert "## Framework or server? (io)" in text
    section = text.split("## Framework or server? (io)", 1)[1].split("\n## ", 1)[0]
    assert "flask-granian" in section and "granian (WSGI)" in section  # Flask on its two servers
    sentence = servers.answer(servers.peaks(built.levels, "io", built.manifest), "io")
    if sentence is None:  # no answer rests on a † or ! number: then one must be there
        steps = built.levels[(built.levels["kind"] == "step") & (built.levels["scenario"] == "io")]
        assert (steps["generator_bound"].astype(bool) | steps["disturbed"].astype(bool)).any()
    else:
        assert sentence in text
    claims = check_claims(built.levels, built.manifest)
    # Django async against Django sync, Quart against Flask, on io: measured, so a real verdict.
    for claim in ("7", "9"):
        assert claims.loc[claim, "verdict"] not in (NOT_TESTED,), claims.loc[claim].to_dict()
        assert "req/s" in claims.loc[claim, "this run"]
    assert claims.loc["8", "verdict"] == NOT_TESTED  # queries was not run
    assert claims.loc["5", "verdict"] == HOLDS  # both async paths ran as ASGI; Flask and Django as WSGI
