"""The open model (locustfiles/_open_model.py, `make latency`): latency from each request's
intended send, exact percentiles, and refusals of bad input.

The key test: a real server on loopback that stalls 200 ms in every second. Locust's closed
model (the lab's scenarios) sends one request per user during a stall and thousands between,
so its p99 misses the stall; the open model at a fixed rate shows it, at p90 and p99 within
10% of what the stall's length and period give (tests/support/stall_server.py says how).
"""

import csv
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lab import latency
from lab.errors import LabError
from lab.load import openmodel
from records import latency as latency_record
from records.files import RecordError
from tests.support.stall_server import StallServer, expected_ms

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


@pytest.fixture
def server(request):
    """A StallServer on loopback, in a thread of this process; (stall, period, status) from an indirect parameter."""
    stall, period, status = getattr(request, "param", (0.0, 1.0, 200))
    srv = StallServer(stall, period, status)
    srv.serve_in_thread()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


# --- the arithmetic --------------------------------------------------------------------------


def test_constant_and_poisson_gaps_have_the_asked_mean():
    constant = openmodel.gaps(250, "constant")
    assert [next(constant) for _ in range(3)] == [0.004] * 3
    poisson = openmodel.gaps(250, "poisson", seed=7)
    sample = [next(poisson) for _ in range(20_000)]
    assert sum(sample) / len(sample) == pytest.approx(0.004, rel=0.03)
    assert min(sample) < 0.0005 < 0.012 < max(sample)  # exponential: short and long gaps both
    with pytest.raises(ValueError):
        next(openmodel.gaps(0, "constant"))
    with pytest.raises(ValueError):
        next(openmodel.gaps(10, "burst"))


def test_histogram_percentiles_are_exact_to_three_digits_and_merge():
    first, second = openmodel.histogram(), openmodel.histogram()
    for ms in range(1, 501):
        openmodel.record(first, ms / 1000)
    for ms in range(501, 1001):
        openmodel.record(second, ms / 1000)
    merged = openmodel.merge([openmodel.encode(first), openmodel.encode(second)])
    found = openmodel.percentiles_ms(merged)
    assert merged.get_total_count() == 1000
    for key, ms in {"50": 500, "90": 900, "99": 990, "99.9": 999, "max": 1000}.items():
        assert found[key] == pytest.approx(ms, rel=0.001), key
    assert openmodel.percentiles_ms(openmodel.histogram())["99"] is None
    with pytest.raises(ValueError, match="HdrHistogram"):
        openmodel.decode("not a histogram")


# --- the record --------------------------------------------------------------------------------


def run_lab(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m lab latency ...` as make runs it; a wide console so each message stays one line."""
    env = {"COLUMNS": "300", "PATH": "/usr/bin:/bin"}
    return subprocess.run([PYTHON, "-m", "lab", "latency", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout)


def a_result(**changes) -> latency_record.LatencyResult:
    hist = openmodel.histogram()
    openmodel.record(hist, 0.002)
    fields = dict(
        url="http://127.0.0.1:1/json", rate_asked=100.0, rate_achieved=99.9, duration_s=5, arrivals="constant",
        max_in_flight=1000, send_lag_ms=0.5, send_lag_max_ms=1.0, send_lag_bound_ms=50.0, requests=500, ok=500,
        errors=0, timeouts=0, capped=0, unanswered=0, percentiles_ms=openmodel.percentiles_ms(hist),
        histogram=openmodel.encode(hist), send_lag_histogram=openmodel.encode(openmodel.histogram()),
    )  # fmt: skip
    return latency_record.LatencyResult(**{**fields, **changes})


def test_record_reads_back_and_its_histogram_recomputes_any_percentile(tmp_path):
    path = tmp_path / "r.json"
    latency_record.write(path, a_result())
    back = latency_record.read(path)
    assert back == a_result()
    assert openmodel.percentiles_ms(openmodel.decode(back.histogram))["50"] == pytest.approx(2.0, rel=0.001)


def test_record_of_unknown_version_or_shape_is_refused(tmp_path):
    path = tmp_path / "r.json"
    latency_record.write(path, a_result(latency_version=99))
    with pytest.raises(RecordError, match="latency_version 99"):
        latency_record.read(path)
    data = json.loads(path.read_text()) | {"latency_version": 1}
    data["percentiles_ms"] = {"50": 1}
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match="percentiles_ms"):
        latency_record.read(path)


# --- bad input: one line, exit 2, nothing written, nothing left running -------------------------


@pytest.mark.parametrize(
    "args, says",
    [
        (["--rate", "0"], "RATE 0 must be above 0"),
        (["--rate", "-5"], "RATE -5 must be above 0"),
        (["--rate", "fast"], "RATE 'fast' is not a number"),
        (["--rate", "1e9"], "above what one Locust worker schedules"),
        (["--rate", "10", "--duration", "0.5"], "DURATION 0.5 is under 1 s"),
        (["--rate", "10", "--url", "ftp://127.0.0.1/x"], "not an http:// or https:// URL"),
        (["--rate", "10", "--url", "http://example.com/"], "not loopback or one of the lab's services"),
        (["--rate", "10", "--url", "http://127.0.0.1:1/json"], "cannot reach http://127.0.0.1:1/json: Connection refused"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, args, says):
    out = tmp_path / "out.json"
    defaults = {"--url": "http://127.0.0.1:1/json", "--duration": "2"}
    args = [*args, *[item for key, value in defaults.items() if key not in args for item in (key, value)], "--out", str(out)]
    done = run_lab(args)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stdout
    assert "Traceback" not in done.stderr
    assert not out.exists()


def test_url_rules():
    assert latency.check_url("http://127.0.0.1:8001/json?x=1", False) == ("http://127.0.0.1:8001", "/json?x=1")
    assert latency.check_url("http://[::1]:8001", False) == ("http://[::1]:8001", "/")
    assert latency.check_url("http://fastapi:8001/json", False)[0] == "http://fastapi:8001"  # the lab's compose network
    assert latency.check_url("https://example.com/x", True) == ("https://example.com", "/x")
    with pytest.raises(LabError, match="ALLOW_REMOTE"):
        latency.check_url("http://10.1.2.3:80/", False)


@pytest.mark.parametrize("server", [(0.0, 1.0, 500)], indirect=True)
def test_target_answering_errors_is_refused(server, tmp_path):
    _srv, url = server
    with pytest.raises(LabError, match="answers HTTP 500"):
        latency.measure(url + "/json", 10, 1)


@pytest.mark.e2e
def test_target_that_fails_during_the_load_writes_no_result(server, tmp_path):
    srv, url = server
    srv.fail_after = 1  # the probe is answered; every request of the load gets a 503
    out = tmp_path / "out.json"
    done = run_lab(["--url", url + "/json", "--rate", "50", "--duration", "2", "--out", str(out)])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "errors" in done.stdout and "HTTP 503" in done.stdout and "no result written" in done.stdout
    assert not out.exists()


# --- the key test: a known stall, closed model against open model -------------------------------

# A period of 0.97 s, not 1 s: at a whole number of requests per period every period would
# sample the same phases, and p90 would land on one of a few discrete waits (up to one gap off).
# 100 req/s: the requests a stall holds back are answered in one burst when it ends, and the
# Python test server takes a little for each; at 200 req/s that burst alone added ~7% to p90.
STALL, PERIOD, RATE = 0.2, 0.97, 100


def closed_p99_ms(url: str, tmp_path: Path) -> tuple[float, int]:
    """Locust's closed model (2 users, no think time) for 5 s: its p99 and request count from its CSV."""
    prefix = tmp_path / "closed"
    subprocess.run(
        [PYTHON, "-m", "locust", "-f", str(ROOT / "tests" / "support" / "closed_get.py"), "--headless", "-u", "2", "-r", "2",
         "-t", "5s", "--host", url, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0"],
        cwd=tmp_path, capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    with open(f"{prefix}_stats.csv") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    return float(rows["Aggregated"]["99%"]), int(rows["Aggregated"]["Request Count"])


@pytest.mark.e2e
@pytest.mark.parametrize("server", [(STALL, PERIOD, 200)], indirect=True)
def test_open_model_shows_the_stall_the_closed_model_misses(server, tmp_path):
    _srv, url = server
    result = latency.measure(url + "/json", RATE, 10)
    p90, p99 = expected_ms(90, STALL, PERIOD), expected_ms(99, STALL, PERIOD)  # 103 ms, 190 ms
    assert result.percentiles_ms["90"] == pytest.approx(p90, rel=0.10), result.percentiles_ms
    assert result.percentiles_ms["99"] == pytest.approx(p99, rel=0.10), result.percentiles_ms
    assert result.errors == result.timeouts == 0 and result.ok == result.requests
    closed_p99, closed_requests = closed_p99_ms(url, tmp_path)
    # The closed model's users wait out each stall with one request each: its p99 stays far below.
    assert closed_requests > 1000
    assert closed_p99 < p99 / 4, f"closed p99 {closed_p99} ms, open p99 {result.percentiles_ms['99']} ms"


@pytest.mark.e2e
def test_achieved_rate_is_the_asked_rate_on_a_server_that_keeps_up(server, tmp_path):
    _srv, url = server
    out = tmp_path / "out.json"
    done = run_lab(["--url", url + "/json", "--rate", "300", "--duration", "5", "--out", str(out)], timeout=90)
    assert done.returncode in (0, 3), done.stdout + done.stderr  # 3: flagged (a busy machine), still a result
    result = latency_record.read(out)
    assert result.rate_achieved == pytest.approx(300, rel=0.02)
    assert result.duration_s == 5 and result.requests > 0.9 * 300 * 5  # Locust's start takes a little of the window
    assert set(result.percentiles_ms) == {"50", "90", "99", "99.9", "max"}
    assert "p99.9" in done.stdout and "written:" in done.stdout
    assert openmodel.decode(result.histogram).get_total_count() == result.ok


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.e2e
@pytest.mark.parametrize("server", [(STALL, PERIOD, 200)], indirect=True)
def test_rate_is_split_over_workers_and_their_histograms_merged(server, tmp_path):
    """A headless master and two workers: each worker sends half the rate and reports its
    histogram with its stats; the master's result is their sum, the stall still in it."""
    _srv, url = server
    port, out = free_port(), tmp_path / "result.json"
    locust = [PYTHON, "-m", "locust", "-f", str(ROOT / "locustfiles" / "open_model.py"), "--loglevel", "WARNING"]
    workers = [subprocess.Popen([*locust, "--worker", "--master-port", str(port)], cwd=tmp_path) for _ in range(2)]
    try:
        subprocess.run(
            [*locust, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "--expect-workers", "2",
             "--headless", "-u", "2", "-r", "2", "-t", "8s", "--host", url, "--rate", "200", "--latency-out", str(out),
             "--only-summary", "--exit-code-on-error", "0"],
            cwd=tmp_path, capture_output=True, check=True, timeout=90,
        )  # fmt: skip
    finally:
        for worker in workers:
            try:
                worker.wait(timeout=15)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    result = json.loads(out.read_text())
    assert result["workers"] == 2 and result["users"] == 2
    assert result["rate_achieved"] == pytest.approx(200, rel=0.02)
    assert openmodel.decode(result["histogram"]).get_total_count() == result["ok"]
    # A worker told to quit may report before its last answers are in: those count as sent, unanswered,
    # at most what one stall holds back (the rate for the stall's length) if the stop falls in one.
    assert 0 <= result["sent"] - result["ok"] <= 200 * STALL + 2 and result["errors"] == result["timeouts"] == 0
    assert result["percentiles_ms"]["99"] == pytest.approx(expected_ms(99, STALL, PERIOD), rel=0.10)


@pytest.mark.e2e
@pytest.mark.parametrize("server", [(STALL, PERIOD, 200)], indirect=True)
def test_a_measured_window_on_the_runs_master_holds_only_its_own_requests(server, tmp_path):
    """The bench's way (lab/load/locust.py): a long-lived master and a worker on the lab's
    locustfiles, the open-model user started over the web API with its rate, the window reset
    after the ramp: the merged histogram holds the window's requests, not the ramp's."""
    from lab.load.locust import Master

    _srv, url = server
    web, bus = free_port(), free_port()
    locust = [PYTHON, "-m", "locust", "-f", str(ROOT / "locustfiles"), "--loglevel", "WARNING"]
    master = subprocess.Popen([*locust, "--master", "--class-picker", "--web-host", "127.0.0.1", "--web-port", str(web), "--master-bind-host", "127.0.0.1",
                               "--master-bind-port", str(bus)], cwd=tmp_path)  # fmt: skip
    worker = subprocess.Popen([*locust, "--worker", "--master-port", str(bus)], cwd=tmp_path)
    try:
        window = Master(f"http://127.0.0.1:{web}").measure(
            "OpenGetUser", url, users=1, duration=4, workers=1, warmup=1, options={"rate": 200, "open_path": "/json"}
        )
    finally:
        for process in (worker, master):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    latency = window.latency
    seconds = window.stop["window_end"] - window.stop["window_start"]
    assert latency["rate_achieved"] == pytest.approx(200, rel=0.02)
    assert latency["sent"] == pytest.approx(200 * seconds, rel=0.05)  # the ramp and warm-up (2 s more) left out
    assert openmodel.decode(latency["histogram"]).get_total_count() == latency["ok"]
    assert latency["percentiles_ms"]["99"] > 100  # the stall is in it


def test_report_section_reads_the_latency_pass_back(tmp_path):
    """analysis/latency.py on a run folder laid out as the bench writes it: the median over the
    repeats per rate, the closed model's p99 beside it, the hockey-stick chart."""
    import types

    import pandas as pd

    from analysis import latency as section
    from records import layout
    from records import run as run_records

    for percent, p99 in ((25, 2.0), (90, 40.0)):
        for repeat, shift in ((1, 0.0), (2, 1.0), (3, 2.0)):
            hist = openmodel.histogram()
            openmodel.record(hist, (p99 + shift) / 1000)
            latency = {"rate_asked": 10.0 * percent, "rate_achieved": 10.0 * percent, "send_lag_ms": 0.4, "flags": [],
                       "throttled_share_percent": 0.5, "percentiles_ms": openmodel.percentiles_ms(hist), "histogram": openmodel.encode(hist)}  # fmt: skip
            record = run_records.StepRecord("fastapi", "json", 2, repeat, kind="latency", status="ok", latency=latency)
            run_records.write(layout.latency_dir(tmp_path, "fastapi", "json", percent, repeat) / "step.json", record)
    levels = pd.DataFrame([{"kind": "step", "scenario": "json", "framework": "fastapi", "rps": 1000.0, "p99_ms": 12.0}])
    blocks = section.blocks(types.SimpleNamespace(run_dir=tmp_path, levels=levels))
    table = next(b.table for b in blocks if b.kind == "table")
    assert list(table["% of peak"]) == [25, 90]
    assert [float(v) for v in table["p99 ms"]] == pytest.approx([3.0, 41.0], rel=0.001)  # the median of the three repeats
    assert set(table["closed p99 @peak"]) == {"12"}
    charts = {b.text: b.png for b in blocks if b.kind == "chart"}
    assert set(charts) == {"latency-vs-load", "latency-percentile-distribution"}
    assert all(png.startswith(b"\x89PNG") for png in charts.values())
