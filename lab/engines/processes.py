"""Processes the lab starts on this machine: started pinned and in a group of their own, stopped
with everything they forked, killed by the kernel if the runner dies; a port checked before a
server takes it; and the runner's own identity, which the docker engine puts on its containers
and the results folder on its reserve, so that a later run can tell what a killed run left.
"""

import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
from pathlib import Path

import psutil


def port_problem(host: str, port: int) -> str | None:
    """Why nothing new can listen on host:port (taken, or not an address of this machine), or None.

    It tries to bind, as the server would, rather than connect: no packet is sent anywhere.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as problem:
            return problem.strerror or str(problem)
    return None


def stop_process_group(process: subprocess.Popen, grace: float = 10) -> None:
    """SIGTERM the whole group (server master and workers), then SIGKILL whatever is left of it.

    The SIGKILL is in `finally`: a second Ctrl-C or SIGTERM that cuts the wait short must not
    leave the group behind.
    """
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
PR_SET_PDEATHSIG = 1


def spawn(command: list[str], log_path: Path, cores: set[int], env: dict | None = None, enter=None) -> subprocess.Popen:
    """A process in its own group (stop_process_group reaches its children), pinned to cores, output
    to a log, and killed by the kernel if the runner dies without cleaning up (even by SIGKILL).

    `enter`, if given, runs in the child before it execs (to join a CPU quota's cgroup), so
    everything the process forks later inherits what it sets.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)

    def in_child() -> None:
        os.sched_setaffinity(0, cores)
        LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if enter is not None:
            enter()

    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=in_child,
        )  # fmt: skip


def this_runner() -> str:
    """This process as host:pid:start time, which no later process on this host can share."""
    me = psutil.Process()
    return f"{socket.gethostname()}:{me.pid}:{me.create_time():.0f}"


def runner_alive(runner: str) -> bool:
    """May the runner named so still be running? Yes unless it was on this host and is gone: a
    runner on another host (a shared Docker engine) cannot be checked from here."""
    host, _, rest = runner.partition(":")
    pid, _, started = rest.partition(":")
    if not pid.isdigit():
        return False
    if host != socket.gethostname():
        return True
    try:
        return f"{psutil.Process(int(pid)).create_time():.0f}" == started
    except psutil.Error:
        return False


def runner_words(runner: str) -> str:
    host, _, rest = runner.partition(":")
    return f"process {rest.partition(':')[0]} on {host}"
