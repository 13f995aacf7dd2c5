"""A run's folder, made safely: never reused, refused in one line on a results disk that cannot
hold a run, with a reserve of space so that a disk filling up mid-run still gets the run's end
recorded. The layout inside it is records/layout.py's.
"""

import errno
import shutil
from datetime import datetime, timezone
from pathlib import Path

from ..engines.processes import runner_alive, this_runner
from ..errors import LabError


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# A quick run writes a few MB and its report a few more: refuse to start with less than this free.
MIN_FREE_BYTES = 50 * 2**20
# Kept beside the run and freed before its last manifest write, so that a disk that fills up
# during the run still gets the run's end (failed, and why) recorded.
RESERVE_BYTES = 2**20


def new_run_dir(results: Path, profile: str, engine: str) -> Path:
    """A fresh folder; the id sorts by time, and an existing one is never reused. A results
    folder that cannot be written or is nearly full is refused in one line, before anything runs."""
    where = "pass --results <folder> to write elsewhere"
    try:
        results.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(results).free
    except OSError as problem:
        raise LabError(f"cannot use the results folder {results}: {problem.strerror or problem} ({where})") from None
    sweep_reserves(results)
    if free < MIN_FREE_BYTES:
        raise LabError(f"the results folder {results} has {free / 2**20:.0f} MB free; a run needs {MIN_FREE_BYTES // 2**20} MB "
                       f"(free some space, or {where})")  # fmt: skip
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{profile}-{engine}"
    for attempt in range(100):
        run_dir = results / (base if attempt == 0 else f"{base}-{attempt}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        except OSError as problem:
            raise LabError(f"cannot create a run folder in {results}: {problem.strerror or problem} ({where})") from None
        try:
            make_reserve(run_dir)
        except OSError as problem:
            reserve(run_dir).unlink(missing_ok=True)
            run_dir.rmdir()
            raise LabError(f"cannot write in the results folder {results}: {problem.strerror or problem} ({where})") from None
        return run_dir
    raise LabError(f"could not create a new run folder under {results}")


def reserve(run_dir: Path) -> Path:
    """The run's reserve of disk space: beside its folder, so it is never part of the run. Its
    first line names the runner, so a later run can remove the reserve of one that was killed."""
    return run_dir.parent / f".reserve-{run_dir.name}"


def make_reserve(run_dir: Path) -> None:
    head = (this_runner() + "\n").encode()
    reserve(run_dir).write_bytes(head + b"\0" * (RESERVE_BYTES - len(head)))


def sweep_reserves(results: Path) -> None:
    """Remove the reserves of runs whose runner is gone (killed: it never freed its own)."""
    for path in results.glob(".reserve-*"):
        try:
            with open(path, "rb") as handle:
                runner = handle.readline(200).decode(errors="replace").strip()
            if not runner_alive(runner):
                path.unlink()
        except OSError:
            continue


def disk_error(problem: OSError, results: Path) -> bool:
    """Is this the results disk failing (full, read-only, gone), rather than, say, a socket?"""
    if problem.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO):
        return True
    name = problem.filename
    return isinstance(name, (str, Path)) and Path(name).resolve().is_relative_to(results.resolve())
