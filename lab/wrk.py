"""wrk, where installed, as a second opinion on the generator: same target, same connections.

Locust is Python and pays per request; wrk is C. Their ratio on the same target
shows how much of a number is the generator's limit rather than the server's.
"""

import os
import re
import shutil
import subprocess


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


def run(url: str, connections: int, seconds: int, cores: list[int]) -> dict:
    """One wrk thread on the generator's cores (Locust runs one process there too)."""
    command = ["wrk", "--threads", "1", "--connections", str(connections), "--duration", f"{seconds}s", "--latency", url]
    cores_set = set(cores)
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 30, preexec_fn=lambda: os.sched_setaffinity(0, cores_set)
    )
    return {"command": command, "exit_code": result.returncode, **parse(result.stdout), "output": result.stdout[-2000:]}
