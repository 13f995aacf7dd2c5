"""The report on real runs: files, charts, the blog's claims, the HTML in a real browser;
two runs compared (and refused when not comparable); a run shared, unpacked and reported again."""

import csv
import io
import json
import shutil
import subprocess
import sys
import tarfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import ROOT, chromium_flags

from analysis.claims import (
    check_claims, combined_verdict, faster_verdict, interface_verdict, load_claims, on_wrk, ratio_verdict, validation_verdict,
)  # fmt: skip
from analysis.report import load
from analysis.tables import peak_levels, scenario_steps, with_fidelity

pytestmark = pytest.mark.e2e

SCENARIOS = ["io", "json", "validate"]
ARTIFACTS = ROOT / "test-artifacts"


def bench(results: Path, scenarios: str) -> Path:
    command = [
        sys.executable, "-m", "lab", "bench", "--engine", "local", "--profile", "quick", "--scenarios", scenarios,
        "--users", "4", "--duration", "2", "--warmup", "1", "--repeats", "2", "--results", str(results),
        # One budget for both runs: calibration may pick different rungs on a noisy machine, and runs
        # at different budgets are (rightly) not comparable.
        "--budget", "0.5",
    ]  # fmt: skip
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    unavailable = json.loads((run_dir / "manifest.json").read_text())["unavailable"]
    assert not unavailable, f"targets not measured (someone else benchmarking on the ports?): {unavailable}"
    return run_dir


@pytest.fixture(scope="session")
def real_run(tmp_path_factory) -> Path:
    """One tiny real run: the three frameworks on the scenarios the claims are checked on."""
    return bench(tmp_path_factory.mktemp("results-a"), ",".join(SCENARIOS))


@pytest.fixture(scope="session")
def second_run(tmp_path_factory) -> Path:
    """Another real run on the same machine, json only: the B of a comparison."""
    return bench(tmp_path_factory.mktemp("results-b"), "json")


def analysis(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])


def peak_ratio(levels_csv: Path, scenario: str, fast: str, slow: str) -> float:
    """Peak median req/s of one framework over another's, straight from levels.csv."""
    rows = [r for r in csv.DictReader(open(levels_csv)) if r["kind"] == "step" and r["scenario"] == scenario]
    peak = {name: max(float(r["rps"]) for r in rows if r["framework"] == name) for name in (fast, slow)}
    return peak[fast] / peak[slow]


def expected_verdicts(report) -> dict[str, str]:
    """The verdict of every claim of claims.toml, from the rule functions applied to this run's peaks."""
    peaks = {scenario: with_fidelity(peak_levels(scenario_steps(report.levels, scenario)), report.levels, scenario) for scenario in SCENARIOS}
    json_peaks, io, validate = peaks["json"], peaks["io"], peaks["validate"]
    post = {"fastapi": 34000, "flask": 9000, "django": 7000}
    ratios = {}
    for fast, slow in (("fastapi", "flask"), ("fastapi", "django"), ("flask", "django")):
        ratios[(fast, slow)] = ratio_verdict(on_wrk(json_peaks.loc[fast]), on_wrk(json_peaks.loc[slow]), post[fast] / post[slow])
    throughput = {name: combined_verdict([v for pair, v in ratios.items() if name in pair]) + " (by its ratios)" for name in post}
    costs = {name: 1 - validate.loc[name, "rps"] / json_peaks.loc[name, "rps"] for name in post}
    interfaces = {name: report.manifest["targets"][name]["interface"] for name in ("flask", "django")}
    return {
        "1": throughput["fastapi"], "2": throughput["flask"], "3": throughput["django"],
        "1/2": ratios[("fastapi", "flask")], "1/3": ratios[("fastapi", "django")], "2/3": ratios[("flask", "django")],
        "4": faster_verdict(io.loc["fastapi"], {name: io.loc[name] for name in ("flask", "django")}),
        "5": interface_verdict(interfaces, {"quart": None, "django-asgi": None}),  # the quick profile runs no variant
        # The async claims name variants (django-asgi, quart) that this run did not measure.
        "7": faster_verdict(None, {}), "8": faster_verdict(None, {}), "9": faster_verdict(None, {}),
        "6": validation_verdict(
            costs,
            bool(validate.loc["fastapi", "generator_bound"] or json_peaks.loc["fastapi", "generator_bound"]),
            "fastapi",
            bool(validate["disturbed"].any() or json_peaks["disturbed"].any()),
        ),
    }  # fmt: skip


# -- the report of one run -------------------------------------------------------------------


@pytest.fixture(scope="session")
def reported(real_run) -> subprocess.CompletedProcess:
    result = analysis("report", real_run)
    assert result.returncode == 0, result.stderr
    return result


def test_report_writes_markdown_html_and_charts(real_run, reported):
    out = real_run / "report"
    for scenario in SCENARIOS:
        assert f"{scenario}: peak per framework" in reported.stdout  # the console summary
        for chart in ("throughput", "latency", "resources", "efficiency"):
            png = out / "charts" / f"{scenario}-{chart}.png"
            assert png.read_bytes().startswith(b"\x89PNG"), png
    for name in ("fastapi", "flask", "django"):
        assert name in reported.stdout
    assert f"HTML report: {(out / 'report.html').resolve()}" in reported.stdout
    tables = (out / "tables.md").read_text()
    report = (out / "report.md").read_text()
    # tables.md stays the tables alone; report.md holds the same tables plus the claims and charts.
    assert "claims" not in tables and "## The blog's claims, checked" in report
    for scenario in SCENARIOS:
        section = tables.split(f"## {scenario}\n", 1)[1].split("\n## ", 1)[0]
        assert section.strip() in report
        assert f"![{scenario}-throughput](charts/{scenario}-throughput.png)" in report


def test_claims_table_checks_every_claim_against_this_run(real_run, reported):
    report = load(real_run)
    table = check_claims(report.levels, report.manifest)
    assert list(table.index) == [claim["id"] for claim in load_claims()]
    # Each verdict is the one the rules give for this run's own peaks.
    assert dict(table["verdict"]) == expected_verdicts(report)
    # The judged ratios are wrk's at the budget, as levels.csv has them, beside the same ratio on the whole
    # cores, and Locust's peaks' ratio beside them.
    levels = list(csv.DictReader(open(real_run / "report" / "levels.csv")))
    referenced = {r["framework"]: r for r in levels if r["kind"] == "step" and r["scenario"] == "json" and r["reference_rps"]}
    for claim_id, fast, slow in (("1/2", "fastapi", "flask"), ("1/3", "fastapi", "django"), ("2/3", "flask", "django")):
        a, b = referenced[fast], referenced[slow]
        locust = peak_ratio(real_run / "report" / "levels.csv", "json", fast, slow)
        assert table.loc[claim_id, "this run"] == (f"{float(a['wrk_rps']) / float(b['wrk_rps']):.2f} (wrk) at the budget; "
                                                   f"{float(a['reference_rps']) / float(b['reference_rps']):.2f} on the whole cores; Locust {locust:.2f}")  # fmt: skip
        assert table.loc[claim_id, "the post"] == {"1/2": "3.78", "1/3": "4.86", "2/3": "1.29"}[claim_id]
    # The conditions come from the manifest: cores and each server's workers.
    workers = report.manifest["targets"]["flask"]["workers"]
    assert f"flask gunicorn sync ×{workers}" in table.loc["2", "conditions"]
    assert "1 server core(s)" in table.loc["1", "conditions"]
    assert "WSGI on gunicorn" in table.loc["5", "this run"]
    # And report.md shows exactly those verdicts, one row per claim.
    text = (real_run / "report" / "report.md").read_text().split("## The blog's claims, checked", 1)[1].split("\n## ", 1)[0]
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in text.splitlines() if line.startswith("| ")]
    header, body = rows[0], rows[1:]
    assert {row[0]: row[header.index("verdict")] for row in body} == expected_verdicts(report)


def test_the_report_says_whether_the_method_bent_the_answer(real_run, reported):
    text = (real_run / "report" / "report.md").read_text().split("## Does the method bend the answer?", 1)[1].split("\n## ", 1)[0]
    manifest = json.loads((real_run / "manifest.json").read_text())
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]] for line in text.splitlines() if line.startswith("| ")}
    # Every target and bare app of json, with its fidelities as the manifest records them (medians of its
    # repeats): wrk's at the budget, the judged one, and Locust's.
    columns = rows["target"]
    for name in ("fastapi", "flask", "django"):
        for column, key in (("fidelity (wrk)", "wrk_fidelity"), ("fidelity (Locust)", "fidelity")):
            fidelity = manifest["fidelity"]["targets"][name][key]
            cell = rows[name][columns.index(column)]
            assert cell.startswith(f"{fidelity:.2f}"), (column, rows[name])
            assert ("‡" in cell) == (not 0.9 <= fidelity <= 1.1)
    assert {"bare-asgi (bare app)", "bare-wsgi (bare app)"} <= set(rows)
    # wrk measured the budget in every repeat of each referenced step, the figure the json claims rest on.
    for name in ("fastapi", "flask", "django"):
        for repeat in (1, 2):
            step = json.loads((real_run / "steps" / name / "json" / f"u0004-r{repeat}" / "step.json").read_text())
            assert step["wrk"]["requests_per_s"] > 0 and step["wrk"]["requests_per_cpu_s"] > 0, (name, repeat, step["wrk"])
            assert step["reference"]["before"]["requests_per_s"] > 0 and step["reference"]["after"]["requests_per_s"] > 0
    # The blog's ratios both ways, and what latency under a quota means.
    assert "| fastapi / flask " in text and "60 ms" not in text or "0.5 of 1 core(s)" in text
    assert "a quota of 0.5 of 1 core(s) lets the server run that share of every 100 ms period" in text


class DomCounter(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.images, self.h2, self.external = [], [], [], []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append(attrs.get("class"))
        if tag == "img":
            self.images.append(attrs.get("src", "")[:22])
        if tag in ("script", "link", "img", "iframe") and any(v and v.startswith(("http:", "https:", "//")) for v in attrs.values()):
            self.external.append(tag)
        self._in_h2 = tag == "h2"

    def handle_data(self, data):
        if self._in_h2:
            self.h2.append(data.strip())
            self._in_h2 = False


def test_html_report_in_a_real_headless_browser(real_run, reported, tmp_path):
    page = (real_run / "report" / "report.html").resolve().as_uri()
    flags = chromium_flags(tmp_path / "profile")
    dom = subprocess.run([*flags, "--dump-dom", page], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    counter = DomCounter()
    counter.feed(dom.stdout)
    assert counter.external == []  # self-contained: opens offline
    for scenario in SCENARIOS:
        assert scenario in counter.h2
    assert "The blog's claims, checked" in counter.h2
    assert "claims" in counter.tables
    # Per scenario a comparison and a resources table, plus the claims and the ceilings.
    assert len(counter.tables) >= 2 * len(SCENARIOS) + 2
    # Four charts per scenario, and the framework tax's on json and validate.
    assert counter.images.count("data:image/png;base64,") == 4 * len(SCENARIOS) + 2

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    shot = subprocess.run([*flags, f"--screenshot={screenshot}", "--window-size=1400,3000", page], capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 50_000


def test_a_partial_run_reports_its_missing_steps(real_run, tmp_path):
    run = shutil.copytree(real_run, tmp_path / real_run.name)
    shutil.rmtree(run / "steps" / "django" / "io")
    result = analysis("report", run)
    assert result.returncode == 0, result.stderr
    for page in ("report.md", "report.html", "tables.md"):
        text = (run / "report" / page).read_text()
        assert "Steps missing (2 planned, never run)" in text, page
        assert "django io u=4 r1" in text and "django io u=4 r2" in text


def test_bad_run_folders_fail_in_one_line(real_run, tmp_path):
    assert_one_line_error(analysis("report", tmp_path / "nowhere"), "nowhere")
    run = shutil.copytree(real_run, tmp_path / "broken")
    step = next(run.glob("steps/*/*/*/step.json"))
    step.write_text("{not json")
    assert_one_line_error(analysis("report", run), str(step), "not readable JSON")
    (run / "manifest.json").write_text("[]")
    assert_one_line_error(analysis("report", run), "manifest.json", "JSON object")


# -- two runs compared -----------------------------------------------------------------------


def test_compare_two_real_runs(real_run, second_run, reported):
    assert analysis("report", second_run).returncode == 0
    result = analysis("compare", real_run, second_run)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stdout
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in result.stdout.splitlines() if line.startswith("|")]
    header, body = rows[0], rows[2:]
    assert header[:4] == ["framework", "scenario", "users", "req/s A"] and "beyond spread" in header
    # Only the steps both runs measured: json at 4 users, one row per framework.
    assert sorted((r[0], r[1], r[2]) for r in body) == [(n, "json", "4") for n in sorted(["django", "fastapi", "flask"])]
    levels_a, levels_b = (list(csv.DictReader(open(run / "report" / "levels.csv"))) for run in (real_run, second_run))
    for row in body:
        record = dict(zip(header, row))

        def rps(levels):
            return next(float(r["rps"]) for r in levels if (r["kind"], r["framework"], r["scenario"], r["users"]) == ("step", row[0], "json", "4"))

        assert record["change"] == f"{100 * (rps(levels_b) - rps(levels_a)) / rps(levels_a):+.1f}%"
        assert record["beyond spread"] in ("yes", "no")


def test_compare_refuses_runs_that_are_not_comparable(real_run, second_run, tmp_path):
    other = shutil.copytree(second_run, tmp_path / second_run.name)
    manifest = json.loads((other / "manifest.json").read_text())
    manifest["engine"] = "docker"
    manifest["locust"]["version"] = "2.40.0"
    manifest["effective"]["duration_s"] = 60
    manifest["targets"]["flask"]["packages"] = [p.replace("Flask==", "Flask==0.") for p in manifest["targets"]["flask"]["packages"]]
    (other / "manifest.json").write_text(json.dumps(manifest))
    refused = analysis("compare", real_run, other)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    reasons = refused.stderr.strip().splitlines()[1:]
    assert [line.strip().split(" differ")[0] for line in reasons] == ["engine", "Locust version", "step duration (s)", "flask: package versions"]
    assert any("A 'local', B 'docker'" in line for line in reasons)
    forced = analysis("compare", real_run, other, "--force")
    assert forced.returncode == 0, forced.stderr
    before_table = forced.stdout.split("\n|", 1)[0]
    assert before_table.count("warning: not comparable:") == 4


# -- shared, unpacked, reported again --------------------------------------------------------


def test_share_unpack_report_gives_identical_tables(real_run, reported, tmp_path):
    shared = analysis("share", real_run)
    assert shared.returncode == 0, shared.stderr
    archive = real_run.parent / f"{real_run.name}.tar.gz"
    assert f"archive: {archive}" in shared.stdout
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    for member in ("manifest.json", "report/report.html", "report/tables.md"):
        assert f"{real_run.name}/{member}" in names
    # Another machine: its own results folder, in another place.
    elsewhere = tmp_path / "elsewhere" / "results"
    unpacked = analysis("unpack", archive, "--results", elsewhere)
    assert unpacked.returncode == 0, unpacked.stderr
    copy = elsewhere / real_run.name
    originals = {name: (real_run / "report" / name).read_bytes() for name in ("tables.md", "report.md", "tidy.csv", "report.html")}
    shutil.rmtree(copy / "report")  # rebuilt from the results alone
    assert analysis("report", copy).returncode == 0
    for name, content in originals.items():
        assert (copy / "report" / name).read_bytes() == content, name
    # Unpacking the same run again never overwrites it.
    assert_one_line_error(analysis("unpack", archive, "--results", elsewhere), "already exists")


def make_tar(path: Path, members: list[tuple[str, bytes | None, str]]) -> Path:
    """members: (name, content, type) with type file, dir, symlink or hardlink."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[kind]
            info.linkname = "/etc/passwd" if kind != "dir" else ""
            tar.addfile(info)
    return path


MANIFEST = json.dumps({"run_id": "r1", "matrix": {"frameworks": []}}).encode()


@pytest.mark.parametrize(
    "members, problem",
    [
        ([("r1/manifest.json", MANIFEST, "file"), ("r2/manifest.json", MANIFEST, "file")], "one top folder"),
        ([("r1/steps/x.csv", b"x", "file")], "no r1/manifest.json"),
        ([("r1/manifest.json", b"{nope", "file")], "not JSON"),
        ([("r1/manifest.json", b'{"a": 1}', "file")], "not a lab manifest"),
        ([("r1/manifest.json", MANIFEST, "file"), ("r1/../../evil", b"x", "file")], ".."),
        ([("r1/manifest.json", MANIFEST, "file"), ("/tmp/evil", b"x", "file")], "absolute path"),
        ([("r1/manifest.json", MANIFEST, "file"), ("r1/passwd", None, "symlink")], "link"),
        ([("r1/manifest.json", MANIFEST, "file"), ("r1/passwd", None, "hardlink")], "link"),
    ],
)
def test_unpack_refuses_what_is_not_a_lab_run(tmp_path, members, problem):
    archive = make_tar(tmp_path / "bad.tar.gz", members)
    results = tmp_path / "results"
    assert_one_line_error(analysis("unpack", archive, "--results", results), str(archive), problem)
    assert not results.exists() or not any(results.iterdir())


def test_unpack_refuses_a_file_that_is_not_a_tar(tmp_path):
    text = tmp_path / "notes.tar.gz"
    text.write_text("just some text\n")
    assert_one_line_error(analysis("unpack", text, "--results", tmp_path / "results"), str(text), "not a tar archive")
    assert_one_line_error(analysis("unpack", tmp_path / "missing.tar.gz"), "no such file")
