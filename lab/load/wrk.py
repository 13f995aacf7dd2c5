"""wrk, where installed: a C client that can reach what a server gives.

Locust is Python and pays per request; wrk is C. The lab runs wrk for three things, each on
the generator's cores at the same connections as Locust: a second opinion on the generator
(same target, same budget), each bare app's ceiling, and the whole-core reference
(lab/run/reference.py). Each run also counts the server's CPU seconds over wrk's whole run
(`cpu`, from the target's cgroup), so requests per CPU-second need no window alignment.
"""

import os
import re
import resource
import shutil
import subprocess
import time
from collections.abc import Callable


def available() -> str | None:
    return shutil.which("wrk")


def parse(output: str) -> dict:
    """Requests/sec, errors and latency percentiles from wrk's text report (with --latency)."""

    def number(pattern: str) -> float | None:
        match = re.search(pattern, output)
        return float(match.group(1)) if match else None

    def ms(value: str, unit: str) -> float:
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    latency = {f"p{p}_ms": ms(v, u) for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)}
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests_per_s": number(r"Requests/sec:\s+([\d.]+)"),
        "requests": number(r"(\d+) requests in"),
        "non_2xx": number(r"Non-2xx or 3xx responses: (\d+)") or 0,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
        **latency,
    }


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(url: str, connections: int, seconds: float, cores: list[int], cpu: Callable[[], float | None] | None = None) -> dict:
    """wrk on the generator's cores, one thread per core; with `cpu`, the server's CPU over the run."""
    threads = max(1, min(len(cores), connections))
    command = ["wrk", "--threads", str(threads), "--connections", str(connections), "--duration", f"{seconds:g}s", "--latency", url]
    cores_set = set(cores)
    before = cpu() if cpu else None
    own, started = children_cpu(), time.monotonic()
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, preexec_fn=lambda: os.sched_setaffinity(0, cores_set)
    )
    wall, own = time.monotonic() - started, children_cpu() - own
    after = cpu() if cpu else None
    found = {"command": command, "exit_code": result.returncode, **parse(result.stdout), "output": result.stdout[-2000:],
             # How full wrk kept its cores: at 90% or more, wrk too may have set the number.
             "wrk_cpu_percent": round(100 * own / (wall * len(cores_set)), 1) if wall > 0 else None}  # fmt: skip
    if before is not None and after is not None and after > before:
        found["server_cpu_s"] = round(after - before, 4)
        if found.get("requests"):
            found["requests_per_cpu_s"] = round(found["requests"] / (after - before), 1)
    return found
