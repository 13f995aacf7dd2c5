"""The neighbour-noise guard (lab/run/noise.py, records.rules.disturbed).

Fast: the arithmetic on constructed /proc/stat snapshots. Real: a run of the lab with a real
CPU hog on the server's core during one step, which that step, and only that one, must show.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from conftest import DOCKER_ENV, ROOT, cannot_test_here

from lab.run.noise import USER_HZ, Snapshot, foreign, parse_proc_stat, read_idle
from lab.run.noise_sampler import backend_database, busy_before
from records.rules import NOISE_LIMIT, disturbed

# -- the arithmetic ----------------------------------------------------------------------------


def proc_stat(*cpus: tuple[int, ...]) -> str:
    """A /proc/stat text: per CPU (user, nice, system, idle, iowait, irq, softirq, steal) in ticks."""
    total = [sum(column) for column in zip(*cpus)]
    lines = ["cpu  " + " ".join(map(str, total)) + " 0 0"]
    lines += [f"cpu{index} " + " ".join(map(str, cpu)) + " 0 0" for index, cpu in enumerate(cpus)]
    return "\n".join(lines + ["intr 1 2 3", "ctxt 99", "btime 1700000000", "processes 12"]) + "\n"


def ticks(seconds: float) -> int:
    return round(seconds * USER_HZ)


def snapshot(at: float, cpu0: tuple, cpu1: tuple, helpers: dict | None = None) -> Snapshot:
    return Snapshot(at, parse_proc_stat(proc_stat(cpu0, cpu1)), helpers or {})


def core(seconds: float, busy: float = 0.0, irq: float = 0.0, steal: float = 0.0, ticked: float | None = None) -> tuple:
    """A core's /proc/stat columns after `seconds`: busy, interrupts and steal, the rest idle (as a tickless
    kernel counts it, exactly); `ticked`: what the user column's tick samples say was busy, if not the same."""
    return (ticks(busy if ticked is None else ticked), 0, 0, ticks(seconds - busy - irq - steal), 0, ticks(irq), 0, ticks(steal))


ROLES = {"server": [0], "locust": [1]}


def test_proc_stat_parses_per_cpu_busy_interrupts_and_steal_in_seconds():
    cpus = parse_proc_stat(proc_stat((ticks(1), ticks(0.5), ticks(2), 500, 7, ticks(0.25), ticks(0.5), ticks(3)), (0,) * 8))
    assert set(cpus) == {0, 1}, "the aggregate `cpu` line is not a CPU"
    assert cpus[0].busy == pytest.approx(3.5)  # user + nice + system, as the ticks sampled it
    assert cpus[0].idle == pytest.approx(507 / USER_HZ)  # idle + iowait
    assert cpus[0].irq == pytest.approx(0.75)  # irq + softirq, kept apart
    assert cpus[0].steal == pytest.approx(3)


def test_older_kernels_without_steal_columns_read_as_no_steal():
    cpus = parse_proc_stat("cpu0 100 0 50 1000\n")
    assert cpus[0].busy == pytest.approx(150 / USER_HZ) and cpus[0].steal == 0 and cpus[0].idle == pytest.approx(1000 / USER_HZ)


def test_foreign_is_busy_minus_the_labs_own_and_steal_is_its_own_share():
    # 5 s window. Core 0: 3.6 s busy, 0.3 s interrupts, 0.4 s stolen; the server used 2.8 s -> 0.8 s foreign = 16%, 8% stolen.
    # Core 1: 2.0 s busy, Locust used 2.0 s (40%) -> nothing foreign.
    first = snapshot(100.0, (0,) * 8, (0,) * 8)
    last = snapshot(105.0, core(5, busy=3.6, irq=0.3, steal=0.4), core(5, busy=2.0))
    record = foreign(first, last, ROLES, {"server": 0.56, "locust": 0.40}, window=5.0)
    server, locust = record["roles"]["server"], record["roles"]["locust"]
    assert server == {"cores": [0], "busy_cpu_s": 3.6, "lab_cpu_s": 2.8, "foreign_cpu_s": 0.8, "irq_cpu_s": 0.3, "steal_cpu_s": 0.4,
                      "foreign_percent": 16.0, "steal_percent": 8.0}  # fmt: skip
    assert locust["foreign_cpu_s"] == 0 and locust["foreign_percent"] == 0
    assert record["worst_role"] == "server" and (record["foreign_percent"], record["steal_percent"]) == (16.0, 8.0)
    assert record["cores"] == [0, 1] and record["busy_cpu_s"] == pytest.approx(5.6) and record["foreign_cpu_s"] == pytest.approx(0.8)
    assert disturbed(record["foreign_percent"], record["steal_percent"])


def test_rates_over_the_snapshots_interval_are_scaled_to_the_window():
    # The snapshots span 2 s of a 4 s window: 0.5 s foreign in 2 s is 25% of the core, 1 s over the window.
    first = snapshot(10.0, (0,) * 8, (0,) * 8)
    last = snapshot(12.0, core(2, busy=1.5), core(2))
    record = foreign(first, last, ROLES, {"server": 0.5, "locust": 0.0}, window=4.0)
    assert record["roles"]["server"]["foreign_percent"] == 25.0
    assert record["roles"]["server"]["foreign_cpu_s"] == pytest.approx(1.0)
    assert record["roles"]["server"]["busy_cpu_s"] == pytest.approx(3.0)


def test_the_labs_unpinned_helpers_are_never_counted_as_foreign_on_either_core():
    # The runner (may run on both cores) used 0.4 s; core 0 shows 0.3 s more than the server, core 1 0.1 s more than Locust.
    first = snapshot(0.0, (0,) * 8, (0,) * 8, {"server": 0.0, "locust": 0.0, "all": 0.0})
    last = snapshot(4.0, core(4, busy=2.3), core(4, busy=2.1), {"server": 0.4, "locust": 0.4, "all": 0.4})
    record = foreign(first, last, ROLES, {"server": 0.5, "locust": 0.5}, window=4.0)
    # Per core set it is a lower bound: all of the helper's time may have been there.
    assert record["roles"]["server"]["foreign_cpu_s"] == 0 and record["roles"]["locust"]["foreign_cpu_s"] == 0
    # Over both cores together it is exact: 4.4 s busy, 4.4 s the lab's.
    assert record["busy_cpu_s"] == pytest.approx(4.4) and record["lab_cpu_s"] == pytest.approx(4.4) and record["foreign_cpu_s"] == 0
    assert not disturbed(record["foreign_percent"], record["steal_percent"])


def test_busy_comes_from_the_idle_columns_not_the_ticks_that_over_count_under_a_quota():
    """Measured here: a busy loop at 0.4 core (10 ms period) for 5 s; its cgroup said 2.00 s, the user column's ticks
    3.41 s, the idle columns 2.02 s. A server under a quota used 1.95 s: nothing foreign, not 29% of the core."""
    first = snapshot(0.0, (0,) * 8, (0,) * 8)
    last = snapshot(5.0, core(5, busy=2.02, ticked=3.41), core(5, busy=1.0))
    record = foreign(first, last, ROLES, {"server": 0.39, "locust": 0.2}, window=5.0)
    assert record["busy_source"] == "proc_stat_idle"
    assert record["roles"]["server"]["busy_cpu_s"] == pytest.approx(2.02)
    assert record["roles"]["server"]["foreign_percent"] == pytest.approx(1.4)
    assert not disturbed(record["foreign_percent"], record["steal_percent"])


def test_exact_idle_residency_is_preferred_to_proc_stat():
    """cpuidle's residency is exact, in microseconds; /proc/stat's idle columns are in 10 ms units."""
    first = Snapshot(0.0, parse_proc_stat(proc_stat((0,) * 8, (0,) * 8)), {}, idle={0: 100.0, 1: 50.0})
    last = Snapshot(5.0, parse_proc_stat(proc_stat(core(5, busy=3.0, steal=0.1, ticked=2.99), core(5, busy=0.5))), {}, idle={0: 102.88, 1: 54.5})
    record = foreign(first, last, ROLES, {"server": 0.384, "locust": 0.1}, window=5.0)
    server = record["roles"]["server"]
    # 5 s less 2.88 s idle less 0.1 s stolen: 2.02 s busy, 1.92 s the server's -> 0.1 s others, 2% of the core.
    assert record["busy_source"] == "cpuidle"
    assert server["busy_cpu_s"] == pytest.approx(2.02) and server["foreign_percent"] == 2.0 and server["steal_percent"] == 2.0
    assert not disturbed(record["foreign_percent"], record["steal_percent"])
    # Without residency on both snapshots, /proc/stat's idle columns are the source.
    assert foreign(Snapshot(0.0, first.cpus, {}), last, ROLES, {"server": 0.384, "locust": 0.1}, 5.0)["busy_source"] == "proc_stat_idle"


def test_idle_residency_is_read_from_every_cpuidle_state_in_seconds(tmp_path):
    for cpu, states in ((0, (1_000_000, 2_500_000)), (1, (500_000,))):
        for index, microseconds in enumerate(states):
            (tmp_path / f"cpu{cpu}" / "cpuidle" / f"state{index}").mkdir(parents=True)
            (tmp_path / f"cpu{cpu}" / "cpuidle" / f"state{index}" / "time").write_text(f"{microseconds}\n")
    pattern = str(tmp_path / "cpu{cpu}" / "cpuidle")
    assert read_idle([0, 1], pattern) == {0: 3.5, 1: 0.5}
    assert read_idle([0, 2], pattern) is None  # a CPU without a driver: no exact figure for any


@pytest.mark.parametrize(
    "title, database",
    [
        ("postgres: postgres lab_bench 127.0.0.1(52314) idle", "lab_bench"),
        # Debian and Ubuntu set cluster_name: the cluster comes first (how the lab's own backends were missed).
        ("postgres: 15/main: postgres lab_bench 127.0.0.1(52314) SELECT", "lab_bench"),
        ("postgres: 15/main: bench lab_test [local] idle", "lab_test"),
        ("postgres: 15/main: checkpointer ", None),
        ("postgres: 15/main: autovacuum launcher ", None),
        ("postgres: walwriter", None),
        ("/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main", None),
        ("python -m lab bench", None),
    ],
)
def test_the_labs_postgresql_backends_are_known_by_their_title(title, database):
    assert backend_database(title) == database


def test_interrupt_time_is_not_counted_as_busy():
    # Loopback traffic is handled in softirq, outside every process's CPU time: the lab's, not foreign.
    first = snapshot(0.0, (0,) * 8, (0,) * 8)
    last = snapshot(4.0, core(4, busy=2, irq=0.6), core(4))
    record = foreign(first, last, ROLES, {"server": 0.5, "locust": 0.0}, window=4.0)
    assert record["roles"]["server"]["foreign_cpu_s"] == 0 and record["roles"]["server"]["irq_cpu_s"] == pytest.approx(0.6)


def test_unknown_lab_cpu_gives_no_verdict_rather_than_a_guess():
    first = snapshot(0.0, (0,) * 8, (0,) * 8)
    last = snapshot(4.0, core(4, busy=4), core(4))
    record = foreign(first, last, ROLES, {"server": None, "locust": 0.0}, window=4.0)
    assert record["roles"]["server"]["foreign_percent"] is None and record["foreign_cpu_s"] is None
    assert record["worst_role"] == "locust"


@pytest.mark.parametrize(
    "foreign_percent, steal_percent, expected",
    [
        pytest.param(0.0, 0.0, False, id="quiet"),
        pytest.param(NOISE_LIMIT - 0.1, 0.0, False, id="just-under-the-limit"),
        pytest.param(NOISE_LIMIT, 0.0, True, id="at-the-limit"),
        pytest.param(0.0, NOISE_LIMIT, True, id="steal-alone"),
        pytest.param(NOISE_LIMIT / 2, NOISE_LIMIT / 2, True, id="others-plus-steal"),
        pytest.param(None, None, False, id="not-measured"),
    ],
)
def test_the_disturbed_rule(foreign_percent, steal_percent, expected):
    assert disturbed(foreign_percent, steal_percent) is expected


# -- a real hog on the server's core -----------------------------------------------------------


def master_state() -> str | None:
    try:
        return requests.get("http://127.0.0.1:8089/stats/requests", timeout=2).json()["state"]
    except (requests.RequestException, ValueError, KeyError):
        return None


def start_hog(core: int) -> subprocess.Popen:
    """A busy loop pinned to one core, in a session of its own (with autogroup scheduling, CPU is
    shared between sessions first: the server's session and the hog's get half of the core each)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, {core}))  # fmt: skip


# A neighbour that wants a fifth of a core: 20 ms of CPU in every 100 ms, then asleep until the next.
NEIGHBOUR = """import time
start = time.monotonic()
while True:
    used = time.process_time()
    while time.process_time() - used < 0.02: pass
    start += 0.1
    time.sleep(max(0.0, start - time.monotonic()))"""


def start_neighbour(core: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", NEIGHBOUR], start_new_session=True, preexec_fn=lambda: os.sched_setaffinity(0, {core}))


def run_with_hog_in_step(results, hog_step: int, server_core: int, locust_core: int, engine: str = "local", budget: str = "all",
                         start=start_hog) -> tuple[dict[int, dict], str, "os.PathLike", int]:  # fmt: skip
    """A short real run of fastapi json, 3 repeats; the hog runs on the server's core from the moment
    the master starts `hog_step`'s users until it stops them. Each repeat's noise record, the output,
    the run folder and the hog's pid."""
    command = [sys.executable, "-m", "lab", "bench", "--engine", engine, "--profile", "smoke", "--frameworks", "fastapi",
               "--scenarios", "json", "--users", "8", "--duration", "4", "--warmup", "0", "--repeats", "3", "--server-cpus", budget,
               "--server-cores", str(server_core), "--locust-cores", str(locust_core), "--results", str(results)]  # fmt: skip
    results.mkdir(parents=True)
    output = results / "bench.out"
    with open(output, "w") as out:
        bench = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=DOCKER_ENV)
    hog, seen = None, []
    try:
        deadline = time.monotonic() + 900
        while bench.poll() is None and time.monotonic() < deadline:
            state = master_state()
            if state and (not seen or seen[-1] != state):
                seen.append(state)
            steps = seen.count("running")
            if hog is None and steps == hog_step and seen[-1] == "running":
                hog = start(server_core)
            elif hog is not None and hog.poll() is None and seen[-1] != "running":
                os.kill(hog.pid, signal.SIGKILL)
                hog.wait()
            # Not faster: this process is a neighbour too, and polling the master costs CPU on the lab's cores.
            time.sleep(0.2)
        bench.wait(timeout=60)
    finally:
        for process in (hog, bench):
            if process is not None and process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
    text = output.read_text()
    assert bench.returncode == 0, text[-3000:]
    assert hog is not None, f"the hog never started (master states seen: {seen})"
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    records = {r: json.loads((run_dir / f"steps/fastapi/json/u0008-r{r}/step.json").read_text()) for r in (1, 2, 3)}
    return {r: record["noise"] for r, record in records.items()}, text, run_dir, hog.pid


def wait_until_quiet(roles: dict[str, list[int]], timeout: float = 180) -> None:
    """Wait until nothing else keeps the lab's cores busy: the clean steps must have a chance to be clean.

    A machine that stays busy is not a failure of the guard: skipped, naming the busiest processes (failed under CI).
    """
    deadline = time.monotonic() + timeout
    while True:
        before = busy_before(roles)
        if not disturbed(before["foreign_percent"], before["steal_percent"]):
            return
        if time.monotonic() > deadline:
            message = f"the lab's cores stayed busy for {timeout:.0f} s ({before['foreign_percent']}% on {before['worst_role']}'s; busiest: {before['busiest']})"
            cannot_test_here(message)
        time.sleep(2)


@pytest.mark.e2e
def test_a_cpu_hog_on_the_servers_core_marks_its_step_disturbed_and_only_it(tmp_path):
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs two cores: one for the server, one for Locust")
    server_core, locust_core = cores[0], cores[-1]
    # The machine may be shared: a step without the hog can be disturbed for real. Then once more.
    for attempt in (1, 2):
        wait_until_quiet({"server": [server_core], "locust": [locust_core]})
        noise, output, run_dir, hog_pid = run_with_hog_in_step(tmp_path / f"attempt-{attempt}", 2, server_core, locust_core)
        shaken = {r: disturbed(n["foreign_percent"], n["steal_percent"]) for r, n in noise.items()}
        if not (shaken[1] and shaken[3]):
            break
    hogged = noise[2]
    assert shaken[2], f"the hog's step is not marked disturbed: {hogged}"
    # The hog took about half of the server's core: far above the limit, and on the server's cores.
    assert hogged["roles"]["server"]["foreign_percent"] >= 4 * NOISE_LIMIT, hogged
    assert hogged["worst_role"] == "server"
    # And the step names it among the processes that used the cores: itself, or (killed and waited
    # for before the step ended) this test's process, its parent, which its CPU time then counts in.
    named = [f"(pid {hog_pid})", f"(pid {os.getpid()})"]
    assert any(pid in line for line in hogged["busiest_processes"] for pid in named), hogged["busiest_processes"]
    if shaken[1] and shaken[3]:
        # Someone else loaded the cores during both runs' clean steps: the guard was right, the test has no control step.
        message = "every step without the hog was disturbed too, twice: " + "; ".join(
            f"r{r}: {noise[r]['foreign_percent']}% on {noise[r]['worst_role']}'s cores, busiest {noise[r]['busiest_processes'][:2]}" for r in (1, 3)
        )
        cannot_test_here(message)
    # The console said so at the step and at the end.
    assert "fastapi json u=8 r2" in output and "disturbed" in output.split("fastapi json u=8 r2", 1)[1].splitlines()[0]
    assert f"{sum(shaken.values())} steps disturbed: re-run" in output
    # And the report: the count, the step named, the mark in the tables.
    report = subprocess.run([sys.executable, "-m", "analysis", "report", str(run_dir)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr
    assert f"{sum(shaken.values())} steps disturbed: re-run" in report.stdout
    text = (run_dir / "report" / "report.md").read_text()
    assert f"**{sum(shaken.values())} steps disturbed: re-run**" in text
    assert "- fastapi json u=8 r2: " in text and "of the server's cores used by other processes" in text
    with open(run_dir / "report" / "tidy.csv") as handle:
        rows = {int(row["repeat"]): row for row in csv.DictReader(handle)}
    assert {r: rows[r]["disturbed"] == "True" for r in (1, 2, 3)} == shaken
    assert "!" in text.split("## json", 1)[1].split("\n## ", 1)[0], "the json tables mark the disturbed level"


@pytest.mark.e2e
@pytest.mark.parametrize("engine", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_a_neighbour_taking_a_fifth_of_the_servers_core_is_caught_under_a_budget(engine, tmp_path, request):
    """At a fractional budget the idle fillers keep the server's core busy (lab/engines/filler.py): a neighbour
    that wants 20% of it takes it from them, and the guard still sees it; the steps around it stay clean."""
    if engine == "docker":
        request.getfixturevalue("docker_engine")
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs two cores: one for the server, one for Locust")
    server_core, locust_core = cores[0], cores[-1]
    for attempt in (1, 2):
        wait_until_quiet({"server": [server_core], "locust": [locust_core]})
        noise, output, run_dir, _pid = run_with_hog_in_step(tmp_path / f"attempt-{attempt}", 2, server_core, locust_core, engine, "0.5",
                                                            start=start_neighbour)  # fmt: skip
        shaken = {r: disturbed(n["foreign_percent"], n["steal_percent"]) for r, n in noise.items()}
        if not (shaken[1] or shaken[3]):
            break
    neighboured = noise[2]
    assert shaken[2] and neighboured["worst_role"] == "server", neighboured
    assert 12 <= neighboured["roles"]["server"]["foreign_percent"] <= 30, neighboured
    if shaken[1] or shaken[3]:
        cannot_test_here(f"a step without the neighbour was disturbed twice: r1 {noise[1]['foreign_percent']}%, r3 {noise[3]['foreign_percent']}%")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["cores"]["server_cpus"] == 0.5 and "how" in manifest["cores"]["filler"], manifest["cores"]


def test_cores_already_busy_before_the_run_are_named_in_one_warning(tmp_path, capsys):
    from support.fake_engine import FakeEngine, FakeGate, Script

    from lab.run.bench import Bench
    from lab.run.plan import Options
    from records.run import Manifest

    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs two cores: one for the server, one for Locust")
    script = Script()
    bench = Bench(Options(profile="smoke", engine="local", results=tmp_path, server_cores=str(cores[0]), locust_cores=str(cores[-1])),
                  engine_factory=lambda name, run_dir, settings: FakeEngine(run_dir, script), gate=FakeGate(script))  # fmt: skip
    hog = start_hog(cores[0])
    try:
        time.sleep(0.5)  # running, not starting
        manifest = Manifest(run_id="check")
        bench.check_cores_idle(manifest)
    finally:
        os.kill(hog.pid, signal.SIGKILL)
        hog.wait()
    lines = [line for line in capsys.readouterr().out.splitlines() if "warning" in line]
    assert len(lines) == 1, lines
    assert "warning: the lab's cores are already busy before the run" in lines[0]
    assert f"(pid {hog.pid})" in lines[0] and f"limit {NOISE_LIMIT:.0f}%" in lines[0]
    before = manifest.host["busy_before_run"]
    assert before["roles"]["server"]["foreign_percent"] >= 4 * NOISE_LIMIT, before
    assert any(f"(pid {hog.pid})" in text for text in before["busiest"])
