"""A shared run is untrusted input: names from it never leave results/, archives and files are
capped, manifest numbers are bounded, and an unpacked run does not become "the latest" run.

Everything here runs on real files: run folders written as the runner writes them (with a
real Locust 2.47 stats CSV), real tar archives made with tarfile or GNU tar, and the real
`python -m analysis` in a subprocess, whose memory is read from the kernel (wait4). No server,
no Docker.
"""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import tracemalloc
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import archive
from analysis.locust_csv import MAX_CSV_BYTES
from analysis.tidy import MAX_JSON_BYTES, AnalysisError
from lab import catalog
from lab.run import folders as results
from records.names import NAME, OutsidePath, UnsafeName, check_name, inside

STATS_CSV = ROOT / "tests" / "fixtures" / "locust_csv" / "locust-2.47_stats.csv"
MiB = 1 << 20
# Address space allowed to each analysis subprocess: pandas and matplotlib need a few hundred
# MB; the bombs below would need 20 GB. The limit keeps an unfixed analysis from hurting the
# shared machine (it fails with MemoryError instead), the rusage check is the real assertion.
ADDRESS_SPACE = 3 << 30
# The analysis of a small run peaks near 150 MB (pandas, matplotlib); the bombs ask for GBs.
MAX_RSS_MB = 400


# -- real run folders and archives -------------------------------------------------------------


def write_run(run: Path, *, started_at="2025-01-01T00:00:00+00:00", frameworks=("fastapi", "flask"), scenarios=("json",), manifest=None, step=None) -> Path:
    """A finished run as the runner lays it out: manifest.json, one step per framework and scenario."""
    data = {
        "manifest_version": 1,
        "run_id": run.name,
        "status": "complete",
        "started_at": started_at,
        "engine": "local",
        "profile": {"name": "smoke"},
        "matrix": {"frameworks": list(frameworks), "scenarios": list(scenarios), "users": [4], "repeats": 1},
        "targets": {name: {"baseline": "bare-asgi" if name == "fastapi" else "bare-wsgi"} for name in frameworks},
        **(manifest or {}),
    }
    run.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps(data))
    for framework in frameworks:
        for scenario in scenarios:
            folder = run / "steps" / framework / scenario / "u0004-r1"
            folder.mkdir(parents=True)
            record = {"kind": "step", "framework": framework, "scenario": scenario, "users": 4, "repeat": 1, "status": "ok",
                      "locust": {"cpu_percent": 20.0}, "server": {"cpu_seconds": 1.0, "cpu_percent": 50.0, "peak_rss_mb": 40.0}}  # fmt: skip
            (folder / "step.json").write_text(json.dumps({**record, **(step or {})}))
            shutil.copyfile(STATS_CSV, folder / "locust_stats.csv")
    return run


def make_tar(path: Path, members, mode="w:gz", format=tarfile.PAX_FORMAT) -> Path:
    """members: (name, content bytes or a size of zeros, type char, extra TarInfo attributes)."""
    with tarfile.open(path, mode, format=format) as tar:
        for name, content, kind, extra in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            for key, value in (extra or {}).items():
                setattr(info, key, value)
            if kind in (tarfile.REGTYPE, tarfile.GNUTYPE_SPARSE):
                data = content if isinstance(content, bytes) else None
                info.size = len(data) if data is not None else content
                tar.addfile(info, io.BytesIO(data) if data is not None else Zeros(content))
            else:
                tar.addfile(info)
    return path


class Zeros(io.RawIOBase):
    """size zero bytes without holding them in memory."""

    def __init__(self, size):
        self.left = size

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n

    def readable(self):
        return True


MANIFEST = json.dumps({"run_id": "r1", "started_at": "2025-01-01T00:00:00+00:00", "matrix": {"frameworks": []}}).encode()
FILE, DIR = tarfile.REGTYPE, tarfile.DIRTYPE


def analysis(*args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


# A small, fresh parent for the measured command: a child's peak RSS (ru_maxrss) starts from its
# parent's size at fork, and this test process grows past MAX_RSS_MB over a whole suite.
MEASURE = """
import os, resource, subprocess, sys
limit, report, command = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
code = subprocess.call(command)
with open(report, "w") as handle:
    handle.write(f"{code} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
"""


def measured(*args, timeout=120) -> tuple[subprocess.CompletedProcess, float]:
    """`python -m analysis ...` under an address-space limit; its result and its own peak RSS in MB."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "usage"
        command = [sys.executable, "-c", MEASURE, str(ADDRESS_SPACE), str(report), sys.executable, "-m", "analysis", *map(str, args)]
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the wrapper and the analysis under it
            process.communicate()
            pytest.fail(f"python -m analysis {' '.join(map(str, args))}: still running after {timeout} s")
        code, maxrss = report.read_text().split()
    return subprocess.CompletedProcess(args, int(code), out, err), int(maxrss) / 1024


def assert_one_line_error(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr[-2000:]
    for word in words:
        assert word in lines[0], (word, lines[0])


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*"))


# -- the one name rule -------------------------------------------------------------------------


def test_every_real_name_passes_the_one_pattern(tmp_path):
    names = []
    for service in catalog.ROOT.glob("services/*/service.toml"):
        text = service.read_text()
        names += [line.split("=", 1)[1].strip().strip('"') for line in text.splitlines() if line.startswith(("name", "baseline"))]
    names += [path.stem.removeprefix("scenario_") for path in (ROOT / "locustfiles").glob("scenario_*.py")]
    assert {"fastapi", "flask", "django", "bare-asgi", "bare-wsgi", "json", "validate"} <= set(names)
    # Run ids as the runner makes them, a second one in the same second included.
    names += [results.new_run_dir(tmp_path, profile, engine).name for profile in ("smoke", "quick", "full") for engine in ("local", "docker")]
    names += [results.new_run_dir(tmp_path, "quick", "docker").name]
    assert names[-1].endswith("-quick-docker-1")
    names += ["u0016-r1", "u0256", "locust_stats.csv", "locust_stats_history.csv", "report.html", "json-throughput.png", "a" * 64]
    for name in names:
        assert check_name("name", name, "here") == name


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "/abs", ".hidden", "-flag", "A", "r1\n", "r1 ", "é", "a" * 65, None, 7, ["x"]])
def test_names_outside_the_pattern_are_refused_naming_file_and_field(bad):
    with pytest.raises(UnsafeName) as caught:
        check_name("scenario", bad, "steps/x/step.json")
    message = str(caught.value)
    assert message.startswith("steps/x/step.json: scenario ") and "\n" not in message
    assert isinstance(caught.value, ValueError)
    assert not isinstance(bad, str) or NAME.fullmatch(bad) is None


def test_inside_refuses_paths_that_escape(tmp_path):
    (tmp_path / "base" / "sub").mkdir(parents=True)
    (tmp_path / "base" / "link").symlink_to(tmp_path)
    assert inside(tmp_path / "base", tmp_path / "base" / "sub" / "x.png") == (tmp_path / "base" / "sub" / "x.png").resolve()
    for escaping in (tmp_path / "base" / ".." / "x", tmp_path / "base" / "link" / "x", Path("/etc/passwd"), tmp_path / "base-2"):
        with pytest.raises(OutsidePath):
            inside(tmp_path / "base", escaping)


# -- names from a run never lead outside it --------------------------------------------------


@pytest.mark.parametrize("field, value", [("scenario", "../../../../escaped"), ("scenario", "json\n"), ("framework", "../../x"), ("framework", "Fast API")])
def test_names_in_step_json_are_checked_before_any_path_is_built(tmp_path, field, value):
    run = write_run(tmp_path / "results" / "r1", step={field: value})
    result = analysis("report", run)
    assert_one_line_error(result, "step.json", field)
    outside = [p for p in files_under(tmp_path) if not p.is_relative_to(tmp_path / "results")]
    assert outside == []
    assert not (run / "report" / "charts").exists() or not any((run / "report" / "charts").iterdir())


@pytest.mark.parametrize(
    "change, words",
    [
        ({"targets": {"fastapi": {"baseline": "../../bare"}}}, ["baseline"]),
        ({"matrix": {"frameworks": ["fastapi", "a/b"], "scenarios": ["json"], "users": [4], "repeats": 1}}, ["matrix.frameworks"]),
        ({"matrix": {"frameworks": ["fastapi"], "scenarios": ["../json"], "users": [4], "repeats": 1}}, ["matrix.scenarios"]),
        ({"run_id": "../../elsewhere"}, ["run id"]),
    ],
)
def test_names_in_the_manifest_are_checked(tmp_path, change, words):
    run = write_run(tmp_path / "results" / "r1", manifest=change)
    assert_one_line_error(analysis("report", run), "manifest.json", *words)


def test_report_files_stay_inside_the_report_folder(tmp_path):
    # A run made here with a link in report/: the report refuses to follow it out of the run.
    run = write_run(tmp_path / "results" / "r1")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run / "report").mkdir()
    (run / "report" / "charts").symlink_to(elsewhere)
    assert_one_line_error(analysis("report", run), "leads outside")
    assert list(elsewhere.iterdir()) == []


def test_a_sound_run_reports_its_charts_under_report(tmp_path):
    run = write_run(tmp_path / "results" / "r1")
    result = analysis("report", run)
    assert result.returncode == 0, result.stderr
    charts = sorted(p.name for p in (run / "report" / "charts").iterdir())
    assert charts == [f"json-{chart}.png" for chart in ("efficiency", "latency", "resources", "throughput")]


# -- archives: caps checked from the headers before anything is written ---------------------


def unpack_refused(tmp_path, archive_path: Path, *words: str) -> None:
    results_dir = tmp_path / "results"
    result, rss = measured("unpack", archive_path, "--results", results_dir)
    assert_one_line_error(result, str(archive_path), *words)
    assert not results_dir.exists() or list(results_dir.iterdir()) == []
    assert rss < MAX_RSS_MB, f"unpack peaked at {rss:.0f} MB"


def test_unpack_refuses_a_sparse_member(tmp_path):
    # A 20 GB locust_stats.csv that takes no disk: GNU tar stores it as a sparse member of a few bytes.
    run = write_run(tmp_path / "made" / "r1")
    big = run / "steps" / "fastapi" / "json" / "u0004-r1" / "locust_stats.csv"
    os.truncate(big, 20 << 30)
    archive_path = tmp_path / "sparse.tar.gz"
    subprocess.run(["tar", "--sparse", "-czf", archive_path, "-C", run.parent, "r1"], check=True)
    assert archive_path.stat().st_size < 10_000
    with tarfile.open(archive_path) as tar:
        assert tar.getmember("r1/steps/fastapi/json/u0004-r1/locust_stats.csv").issparse()
    unpack_refused(tmp_path, archive_path, "sparse", "locust_stats.csv")


def test_unpack_refuses_a_hand_built_gnu_sparse_header(tmp_path):
    archive_path = make_tar(tmp_path / "sparse.tar", [("r1/manifest.json", MANIFEST, FILE, None), ("r1/x.csv", b"", tarfile.GNUTYPE_SPARSE, None)], "w", tarfile.GNU_FORMAT)
    unpack_refused(tmp_path, archive_path, "sparse", "r1/x.csv")


def test_unpack_refuses_a_member_over_the_file_cap(tmp_path):
    archive_path = make_tar(tmp_path / "big.tar.gz", [("r1/manifest.json", MANIFEST, FILE, None), ("r1/targets/fastapi.log", archive.MAX_MEMBER_BYTES + 1, FILE, None)])
    assert archive_path.stat().st_size < 2 * MiB  # a small download, a big file
    unpack_refused(tmp_path, archive_path, "r1/targets/fastapi.log", "64 MiB")


def test_unpack_refuses_an_archive_over_the_total_cap(tmp_path):
    count = archive.MAX_TOTAL_BYTES // archive.MAX_MEMBER_BYTES + 1
    members = [("r1/manifest.json", MANIFEST, FILE, None)] + [(f"r1/targets/log{i}.log", archive.MAX_MEMBER_BYTES, FILE, None) for i in range(count)]
    archive_path = make_tar(tmp_path / "total.tar.gz", members)
    assert archive_path.stat().st_size < 4 * MiB
    unpack_refused(tmp_path, archive_path, "512 MiB in total")


def test_unpack_refuses_too_many_members(tmp_path):
    members = [("r1/manifest.json", MANIFEST, FILE, None)] + [(f"r1/steps/f{i}", b"", FILE, None) for i in range(archive.MAX_MEMBERS)]
    unpack_refused(tmp_path, make_tar(tmp_path / "many.tar.gz", members), "more than 50,000 members")


@pytest.mark.parametrize(
    "names",
    [
        ["r1/manifest.json", "r1/manifest.json"],  # the first is checked, the last would be extracted
        ["r1/manifest.json", "r1/steps/a", "r1/./steps/a"],
        ["r1/manifest.json", "r1/steps//a", "r1/steps/a"],
    ],
)
def test_unpack_refuses_duplicate_names(tmp_path, names):
    members = [(name, MANIFEST if name.endswith("manifest.json") and i == 0 else b"{}", FILE, None) for i, name in enumerate(names)]
    unpack_refused(tmp_path, make_tar(tmp_path / "dup.tar.gz", members), "duplicate")


def test_unpack_refuses_a_file_and_a_folder_of_one_name(tmp_path):
    members = [("r1/manifest.json", MANIFEST, FILE, None), ("r1/steps", b"x", FILE, None), ("r1/steps", None, DIR, None)]
    unpack_refused(tmp_path, make_tar(tmp_path / "dup.tar.gz", members), "duplicate", "r1/steps")


@pytest.mark.parametrize("kind", ["pax", "gnu-longname"])
def test_unpack_memory_stays_bounded_on_a_header_bomb(tmp_path, kind):
    # tarfile reads a PAX header or a GNU long name whole, whatever size it claims: 256 MiB
    # that compress to a few hundred KB.
    size = 256 * MiB
    if kind == "pax":
        members = [("r1/manifest.json", MANIFEST, FILE, {"pax_headers": {"comment": "a" * size}})]
        archive_path = make_tar(tmp_path / "bomb.tar.gz", members)
    else:
        archive_path = make_tar(tmp_path / "bomb.tar.gz", [("r1/" + "a" * size, b"", FILE, None)], format=tarfile.GNU_FORMAT)
    assert archive_path.stat().st_size < 2 * MiB
    unpack_refused(tmp_path, archive_path, "header")


@pytest.mark.parametrize("top", ["r1\n", "R1", "-r1", "r1 x"])
def test_unpack_refuses_a_top_folder_that_is_not_a_run_id(tmp_path, top):
    unpack_refused(tmp_path, make_tar(tmp_path / "odd.tar.gz", [(f"{top}/manifest.json", MANIFEST, FILE, None)]), "run id")


def test_unpack_refuses_names_inside_the_run_outside_the_pattern(tmp_path):
    members = [("r1/manifest.json", MANIFEST, FILE, None), ("r1/steps/Evil Name.csv", b"x", FILE, None)]
    unpack_refused(tmp_path, make_tar(tmp_path / "odd.tar.gz", members), "Evil Name.csv")


def test_unpack_refuses_a_manifest_over_the_json_cap(tmp_path):
    padded = json.dumps({"run_id": "r1", "matrix": {}, "notes": "x" * MAX_JSON_BYTES}).encode()
    unpack_refused(tmp_path, make_tar(tmp_path / "fat.tar.gz", [("r1/manifest.json", padded, FILE, None)]), "manifest.json", "4 MiB")


def test_a_real_run_within_the_caps_unpacks_and_is_marked(tmp_path):
    run = write_run(tmp_path / "made" / "20250101-000000-smoke-local")
    shared = analysis("share", run)
    assert shared.returncode == 0, shared.stderr
    results_dir = tmp_path / "results"
    result, _ = measured("unpack", run.parent / f"{run.name}.tar.gz", "--results", results_dir)
    assert result.returncode == 0, result.stderr
    copy = results_dir / run.name
    assert json.loads((copy / archive.UNPACKED).read_text())["archive"] == str(run.parent / f"{run.name}.tar.gz")
    assert (copy / "steps" / "fastapi" / "json" / "u0004-r1" / "locust_stats.csv").read_bytes() == STATS_CSV.read_bytes()


# -- files read with a cap --------------------------------------------------------------------


def test_a_huge_sparse_stats_csv_is_refused_with_bounded_memory(tmp_path):
    run = write_run(tmp_path / "results" / "r1")
    big = run / "steps" / "fastapi" / "json" / "u0004-r1" / "locust_stats.csv"
    os.truncate(big, 20 << 30)  # 20 GB on paper, nothing on disk
    # Only ever read in a subprocess with an address-space limit: unbounded, this read takes the machine's memory.
    result, rss = measured("report", run)
    assert result.returncode == 0, result.stderr
    assert rss < MAX_RSS_MB, f"report peaked at {rss:.0f} MB"
    reason = f"fastapi json u=4 r1: unreadable: {big}: 21,474,836,480 bytes, over the {MAX_CSV_BYTES // MiB} MiB cap"
    assert reason in (run / "report" / "report.md").read_text()


@pytest.mark.parametrize("name", ["manifest.json", "steps/flask/json/u0004-r1/step.json"])
def test_json_over_the_cap_is_refused_naming_file_and_cap(tmp_path, name):
    run = write_run(tmp_path / "results" / "r1")
    path = run / name
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "notes": "x" * MAX_JSON_BYTES}))
    result, rss = measured("report", run)
    assert_one_line_error(result, str(path), "4 MiB")
    os.truncate(path, 20 << 30)
    result, rss = measured("report", run)
    assert_one_line_error(result, str(path), "4 MiB")
    assert rss < MAX_RSS_MB


# -- numbers in a manifest are bounded ---------------------------------------------------------


@pytest.mark.parametrize(
    "matrix, field",
    [
        ({"repeats": 10**4000}, "matrix.repeats"),  # hung the report
        ({"repeats": 1_000_000}, "matrix.repeats"),  # took 2 GB
        ({"repeats": True}, "matrix.repeats"),
        ({"repeats": 0}, "matrix.repeats"),
        ({"users": list(range(1, 200_001))}, "matrix.users"),
        ({"users": [4, 10**30]}, "matrix.users"),
        ({"frameworks": [f"f{i}" for i in range(400)], "scenarios": [f"s{i}" for i in range(400)], "users": [4], "repeats": 1}, "steps"),
        ({"scenarios": [f"s{i}" for i in range(1000)], "users": list(range(1, 1001)), "repeats": 100, "frameworks": []}, "steps"),
    ],
)
def test_manifest_numbers_are_bounded(tmp_path, matrix, field):
    run = write_run(tmp_path / "results" / "r1")
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["matrix"].update(matrix)
    (run / "manifest.json").write_text(json.dumps(manifest))
    result, rss = measured("report", run, timeout=60)
    assert_one_line_error(result, "manifest.json", field)
    assert rss < MAX_RSS_MB


@pytest.mark.parametrize("field, value", [("users", 10**4000), ("users", 1e308), ("repeat", -1), ("users", 0)])
def test_step_numbers_are_bounded(tmp_path, field, value):
    run = write_run(tmp_path / "results" / "r1", step={field: value})
    result, _ = measured("report", run, timeout=60)
    assert_one_line_error(result, "step.json", field)


# -- the latest run ---------------------------------------------------------------------------


def test_the_latest_run_is_the_newest_made_here_not_the_last_by_name(tmp_path):
    results_dir = tmp_path / "results"
    write_run(results_dir / "20250301-000000-smoke-local", started_at="2025-03-01T00:00:00+00:00")
    newest = write_run(results_dir / "20250201-000000-smoke-local", started_at="2025-06-01T00:00:00+00:00")
    # A shared run named to sort last and claiming to be from the future, unpacked the real way.
    foreign = write_run(tmp_path / "theirs" / "zzz-latest", started_at="2099-01-01T00:00:00+00:00")
    assert analysis("share", foreign).returncode == 0
    assert analysis("unpack", foreign.parent / "zzz-latest.tar.gz", "--results", results_dir).returncode == 0

    report = analysis("report", "--results", results_dir)
    assert report.returncode == 0, report.stderr
    first = report.stdout.splitlines()[0]
    assert first.startswith(f"latest run: {newest.name} "), first
    assert "started 2025-06-01T00:00:00+00:00" in first and "newest of 2 runs made here" in first and "1 unpacked run" in first
    assert (newest / "report" / "report.html").exists()
    shared = analysis("share", "--results", results_dir)
    assert shared.returncode == 0, shared.stderr
    assert f"archive: {results_dir / newest.name}.tar.gz" in shared.stdout


def test_with_only_unpacked_runs_the_newest_of_them_is_picked_and_said_so(tmp_path):
    results_dir = tmp_path / "results"
    for name, started in (("zzz-old", "2024-01-01T00:00:00+00:00"), ("aaa-new", "2024-05-01T00:00:00")):
        run = write_run(tmp_path / "theirs" / name, started_at=started)
        assert analysis("share", run).returncode == 0
        assert analysis("unpack", tmp_path / "theirs" / f"{name}.tar.gz", "--results", results_dir).returncode == 0
    report = analysis("report", "--results", results_dir)
    assert report.returncode == 0, report.stderr
    first = report.stdout.splitlines()[0]
    assert first.startswith("latest run: aaa-new ") and "no run made here" in first, first


# -- property: random archives never write outside results/, memory stays bounded -------------

SAFE_PARTS = st.sampled_from(["steps", "fastapi", "json", "u0004-r1", "step.json", "locust_stats.csv", "report", "a.b", "x_y"])
HOSTILE_NAMES = st.sampled_from([
    "../escaped", "r1/../../escaped", "/tmp/lab-untrusted-probe", "r1/../r2/x", "./r1/x", "r1/./manifest.json", "r1//steps",
    "r1\n/manifest.json", "R1/manifest.json", "r1/ x", "r1/é", "r2/manifest.json", "r1/" + "d" * 150, "r1/.hidden", "r1/steps/..",
    "r1/manifest.json", "r1/manifest.json/x", "",
])  # fmt: skip
SAFE_NAMES = st.lists(SAFE_PARTS, min_size=1, max_size=4).map(lambda parts: "r1/" + "/".join(parts))
NAMES = st.one_of(SAFE_NAMES, HOSTILE_NAMES)
KINDS = st.sampled_from([FILE, FILE, FILE, DIR, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.GNUTYPE_SPARSE])
CONTENTS = st.sampled_from([b"", b"x", b"{}", MANIFEST])
LINKS = st.sampled_from(["", "../../escaped", "/etc/passwd", "r1/manifest.json"])
# Mostly what a run holds, plus up to two members that may be anything: so some archives unpack.
RUN_MEMBERS = st.lists(st.tuples(SAFE_NAMES, st.sampled_from([FILE, FILE, DIR]), CONTENTS, st.just("")), max_size=8, unique_by=lambda m: m[0])
ANY_MEMBERS = st.lists(st.tuples(NAMES, KINDS, CONTENTS, LINKS), max_size=2)
MEMBERS = st.tuples(RUN_MEMBERS, ANY_MEMBERS).map(lambda parts: parts[0] + parts[1])
BOMB = 32 * MiB  # a PAX header this size, in some archives
# What an unpack of these archives may allocate (traced by tracemalloc): the xz decoder alone takes 8 MiB.
TRACED_PEAK = 16 * MiB


def random_archive(path: Path, members, with_manifest: bool, bomb: bool, compression: str) -> bool:
    """Write the archive; False if tarfile itself cannot write it. The bomb lives only in this frame."""
    entries = [("r1/manifest.json", MANIFEST, FILE, None)] if with_manifest else []
    for name, kind, content, link in members:
        extra = {"linkname": link} if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else None
        entries.append((name, content if kind in (FILE, tarfile.GNUTYPE_SPARSE) else None, kind, extra))
    if bomb and entries:
        name, content, kind, extra = entries[0]
        entries[0] = (name, content, kind, {**(extra or {}), "pax_headers": {"comment": "b" * BOMB}})
    try:
        make_tar(path, entries, compression)
    except (ValueError, tarfile.TarError, UnicodeError):
        return False
    return True


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(members=MEMBERS, with_manifest=st.booleans(), bomb=st.sampled_from([False, False, False, True]), compression=st.sampled_from(["w", "w:gz", "w:bz2", "w:xz"]))
def test_random_archives_never_write_outside_results_and_memory_stays_bounded(members, with_manifest, bomb, compression):
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        sandbox = base / "sandbox"
        results_dir = sandbox / "results"
        sandbox.mkdir()
        path = sandbox / "shared.tar"
        if not random_archive(path, members, with_manifest, bomb, compression):
            return  # tarfile itself cannot write this one
        tracemalloc.start()
        try:
            destination = archive.unpack(path, results_dir)
        except AnalysisError:
            destination = None
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert peak < TRACED_PEAK, f"unpack allocated {peak / MiB:.1f} MiB"
        assert not Path("/tmp/lab-untrusted-probe").exists()
        for found in base.rglob("*"):
            assert found in (sandbox, path, results_dir) or found.is_relative_to(results_dir), found
        if destination is None:
            assert not results_dir.exists() or list(results_dir.iterdir()) == []
            return
        assert destination.parent == results_dir and check_name("run id", destination.name, "test")
        for found in destination.rglob("*"):
            assert not found.is_symlink() and (found.is_dir() or found.is_file()), found
            for part in found.relative_to(destination).parts:
                check_name("name", part, found)
        assert json.loads((destination / "manifest.json").read_bytes()) == json.loads(MANIFEST)
