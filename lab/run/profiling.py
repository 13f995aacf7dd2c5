"""Where a target's time goes: a sampling profiler on its server's processes during one extra step.

After the measured steps, each target gets one more window per profiled scenario (json and
validate, at the run's highest level), never counted as a measurement: py-spy samples every
process of the server 100 times a second and writes the collapsed stacks (one line per stack,
`frame;frame;... count`) into the step's folder; the report draws them as a flame graph and
groups the hottest frames by layer (analysis/flames.py). The step keeps Locust's numbers too,
so the report shows what profiling cost: that window's req/s beside the measured one.

py-spy runs from this host, as the runner's user, on the server's process tree (a container's
too, through its pid on the host), so nothing in the target changes. Where it cannot read
another process's memory (no ptrace: not root and Yama's ptrace_scope above 0, or ptrace_scope
3, or py-spy missing) the profile is skipped with one line saying why, and the run goes on.
"""

import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

# Samples per second: py-spy's default, enough for a flame graph in a few seconds of load.
RATE = 100
# The scenarios profiled, where the run has them: the plain JSON endpoint and the validating one.
SCENARIOS = ("json", "validate")
YAMA = Path("/proc/sys/kernel/yama/ptrace_scope")


def py_spy() -> str | None:
    """py-spy from the lab's virtualenv (a wheel on PyPI), else from PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def problem() -> str | None:
    """Why no profile can be taken here, or None."""
    if py_spy() is None:
        return "py-spy is not installed (it is in requirements/lab.txt: make setup)"
    try:
        scope = int(YAMA.read_text())
    except (OSError, ValueError):
        scope = 0  # no Yama: ptrace follows the usual permission checks
    if scope >= 3:
        return f"ptrace is disabled on this kernel (Yama ptrace_scope {scope})"
    if scope >= 1 and os.geteuid() != 0:
        return f"ptrace of another process needs root here (Yama ptrace_scope {scope})"
    return None


@contextmanager
def recording(pid: int, stacks: Path):
    """py-spy on `pid` and its children while the body runs; yields the record it fills in."""
    stacks.parent.mkdir(parents=True, exist_ok=True)
    command = [py_spy(), "record", "--pid", str(pid), "--subprocesses", "--rate", str(RATE), "--format", "raw", "--output", str(stacks), "--nonblocking"]
    found: dict = {"sampler": "py-spy", "rate_hz": RATE, "command": command, "stacks": stacks.name}
    log = stacks.with_name("py-spy.log")
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield found
    finally:
        # SIGINT: py-spy stops sampling and writes what it has.
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        found["exit_code"] = process.returncode
        if not stacks.exists() or stacks.stat().st_size == 0:
            found["problem"] = "py-spy wrote no stacks: " + (log.read_text(errors="replace").strip().splitlines() or ["no output"])[-1][:300]


def words(found: dict | None) -> str:
    """The console's note on a profile: what was written, or why nothing was."""
    if not found:
        return ""
    return f"  [yellow]no profile[/]: {found['problem']}" if found.get("problem") else f"  profiled ({found['stacks']})"
