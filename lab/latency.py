"""`make latency URL=... RATE=... DURATION=...`: the open model (locustfiles/open_model.py) at a
fixed rate against one HTTP URL, its percentile table, and a latency record (records/latency.py).

Locust runs headless in one process (a local runner, one user: it sends from as many greenlets
as the in-flight cap allows), for DURATION seconds, and writes its merged result at exit; this
module checks the input first, then turns that result into the record. Nothing is written that
looks like a result when the run was not one: a target that answered errors or timed out, a
Locust that did not finish.
"""

import ipaddress
import re
import os
import signal
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import requests
from rich.console import Console
from rich.table import Table

from records import latency as latency_record
from records.files import RecordError, read_json
from records.layout import RESULTS

from . import catalog
from .errors import LabError
from .load import openmodel

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = ROOT / "locustfiles" / "open_model.py"
# What one Locust process schedules with its send lag (p99) under a few ms on one core here: the
# generator's CPU, not the arithmetic, is the limit. A higher rate needs workers (the bench's pass).
MAX_RATE = 2000.0
MIN_DURATION = 1
MAX_DURATION = 3600
# After DURATION: Locust's start and stop, and the drain of requests still out (_open_model.DRAIN_S).
GRACE_S = 30


def check_rate(raw) -> float:
    try:
        rate = float(raw)
    except (TypeError, ValueError):
        raise LabError(f"RATE {raw!r} is not a number: requests per second, e.g. RATE=500") from None
    if not rate > 0 or rate != rate or rate == float("inf"):
        raise LabError(f"RATE {raw} must be above 0 requests per second")
    if rate > MAX_RATE:
        raise LabError(f"RATE {rate:g} is above what one Locust worker schedules faithfully here ({MAX_RATE:g} req/s)")
    return rate


def check_duration(raw) -> int:
    try:
        duration = float(raw)
    except (TypeError, ValueError):
        raise LabError(f"DURATION {raw!r} is not a number of seconds, e.g. DURATION=10") from None
    if duration != duration or duration < MIN_DURATION:
        raise LabError(f"DURATION {raw} is under {MIN_DURATION} s: too short to measure anything")
    if duration > MAX_DURATION or duration != int(duration):
        raise LabError(f"DURATION {raw} must be a whole number of seconds from {MIN_DURATION} to {MAX_DURATION}")
    return int(duration)


def lab_names() -> set[str]:
    """The lab's own hosts: its services' names on the compose network."""
    return {name.lower() for name in catalog.services()}


def check_url(url: str, allow_remote: bool) -> tuple[str, str]:
    """(base, path) of an http(s) URL on loopback or the lab's network (any host with allow_remote)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LabError(f"URL {url!r} is not an http:// or https:// URL with a host, e.g. URL=http://127.0.0.1:8001/json")
    try:
        parts.port
    except ValueError:
        raise LabError(f"URL {url!r} has a bad port") from None
    host = parts.hostname.lower()
    if not allow_remote and not is_lab_host(host):
        raise LabError(
            f"URL host {host} is not loopback or one of the lab's services: load aimed elsewhere by a typo harms someone else's server; "
            "to measure it on purpose, add ALLOW_REMOTE=1 (--allow-remote)"
        )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return f"{parts.scheme}://{parts.netloc}", path


def is_lab_host(host: str) -> bool:
    if host == "localhost" or host in lab_names():
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def probe(url: str) -> None:
    """One request before the load: an unreachable URL or one answering errors is refused here."""
    try:
        response = requests.get(url, timeout=5, allow_redirects=False)
    except requests.RequestException as problem:
        errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(problem))
        reason = errno[1].strip() if errno else type(problem).__name__
        raise LabError(f"cannot reach {url}: {reason}") from None
    if not 200 <= response.status_code < 300:
        raise LabError(f"{url} answers HTTP {response.status_code}, not 2xx: nothing to measure there")


def default_out(rate: float) -> Path:
    return RESULTS / "latency" / f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-r{rate:g}.json"


def run_locust(base: str, path: str, rate: float, duration: int, arrivals: str, max_in_flight: int, lag_bound_ms: float, raw: Path, log: Path) -> None:
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--users", "1", "--spawn-rate", "1",
        "--run-time", f"{duration}s", "--host", base, "--open-path", path, "--rate", f"{rate:g}", "--arrivals", arrivals,
        "--max-in-flight", str(max_in_flight), "--lag-bound-ms", f"{lag_bound_ms:g}", "--latency-out", str(raw),
        "--only-summary", "--loglevel", "WARNING", "--exit-code-on-error", "0",
    ]  # fmt: skip
    with open(log, "w") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True, cwd=tempfile.gettempdir())
        try:
            process.wait(timeout=duration + GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise LabError(f"Locust did not stop within {duration + GRACE_S} s; stopped it") from None
        except KeyboardInterrupt:
            # Locust stops its users on SIGINT; nothing of ours is left running.
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            raise
    if not raw.exists():
        tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:] or ["no output"]
        raise LabError(f"Locust exited ({process.returncode}) without a result: {tail[0][:200]}")


def measure(url: str, rate, duration, *, arrivals="constant", max_in_flight=1000, lag_bound_ms=openmodel.LAG_BOUND_MS, allow_remote=False) -> latency_record.LatencyResult:
    """Check the input, load the URL at the rate, and return the record (errors: LabError)."""
    rate, duration = check_rate(rate), check_duration(duration)
    if arrivals not in openmodel.ARRIVALS:
        raise LabError(f"ARRIVALS {arrivals!r} is not one of {', '.join(openmodel.ARRIVALS)}")
    if max_in_flight < 1:
        raise LabError(f"MAX_IN_FLIGHT {max_in_flight} must be at least 1")
    base, path = check_url(url, allow_remote)
    probe(url)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="lab-latency-") as scratch:
        raw_path, log = Path(scratch) / "result.json", Path(scratch) / "locust.log"
        run_locust(base, path, rate, duration, arrivals, max_in_flight, lag_bound_ms, raw_path, log)
        try:
            raw = read_json(raw_path)
        except RecordError as problem:
            raise LabError(f"Locust's result is unreadable: {problem}") from None
    failed = raw["errors"] + raw["timeouts"]
    if failed:
        seen = next(iter(raw.get("errors_seen") or {"": 0}))
        raise LabError(
            f"{url} failed {failed} of {raw['sent']} requests ({raw['errors']} errors, {raw['timeouts']} timeouts; e.g. {seen!r}): no result written"
        )
    if raw["ok"] == 0:
        raise LabError(f"{url}: no request was answered in {duration} s: no result written")
    return latency_record.LatencyResult(
        url=url,
        rate_asked=rate,
        rate_achieved=raw["rate_achieved"],
        duration_s=duration,
        arrivals=arrivals,
        max_in_flight=max_in_flight,
        send_lag_ms=raw["send_lag_ms"],
        send_lag_max_ms=raw["send_lag_max_ms"],
        send_lag_bound_ms=lag_bound_ms,
        requests=raw["sent"],
        ok=raw["ok"],
        errors=raw["errors"],
        timeouts=raw["timeouts"],
        capped=raw["capped"],
        unanswered=raw["sent"] - raw["ok"] - failed,
        percentiles_ms=raw["percentiles_ms"],
        histogram=raw["histogram"],
        send_lag_histogram=raw["send_lag_histogram"],
        histogram_format=dict(openmodel.HISTOGRAM_FORMAT),
        flags=list(raw["flags"]),
        workers=raw["workers"],
        started_at=started,
    )


def table(result: latency_record.LatencyResult) -> Table:
    shown = Table(title="latency from the intended send")
    shown.add_column("percentile")
    shown.add_column("ms", justify="right")
    for key in latency_record.PERCENTILE_KEYS:
        value = result.percentiles_ms[key]
        shown.add_row("max" if key == "max" else f"p{key}", "-" if value is None else f"{value:,.2f}")
    return shown


def main(args, console: Console) -> int:
    result = measure(
        args.url, args.rate, args.duration, arrivals=args.arrivals, max_in_flight=args.max_in_flight,
        lag_bound_ms=args.lag_bound_ms, allow_remote=args.allow_remote,
    )  # fmt: skip
    out = Path(args.out) if args.out else default_out(result.rate_asked)
    latency_record.write(out, result)
    console.print(f"{result.url} at {result.rate_asked:g} req/s ({result.arrivals} arrivals) for {result.duration_s:g} s")
    console.print(table(result))
    console.print(
        f"rate asked {result.rate_asked:g} req/s, achieved {result.rate_achieved:g}; send lag p99 {result.send_lag_ms:g} ms "
        f"(max {result.send_lag_max_ms:g}, bound {result.send_lag_bound_ms:g}); {result.requests} sent, {result.errors} errors, "
        f"{result.timeouts} timeouts, {result.capped} waited for the in-flight cap"
    )
    for flag in result.flags:
        console.print(f"[bold yellow]flagged:[/] {flag}")
    console.print(f"written: {out}")
    # A flagged result is kept (it says why), but is not a clean measurement of the rate asked.
    return 3 if result.flags else 0


def add_parser(sub) -> None:
    parser = sub.add_parser("latency", help="open-model latency of one URL at a fixed rate (make latency)")
    parser.add_argument("--url", required=True, help="http(s) URL on loopback or the lab's network, e.g. http://127.0.0.1:8001/json")
    parser.add_argument("--rate", required=True, help=f"requests per second, above 0, at most {MAX_RATE:g}")
    parser.add_argument("--duration", default="10", help="whole seconds, at least 1 (default 10)")
    parser.add_argument("--arrivals", default="constant", help="constant (default) or poisson")
    parser.add_argument("--max-in-flight", type=int, default=1000, help="requests out at once, at most (default 1000)")
    parser.add_argument("--lag-bound-ms", type=float, default=openmodel.LAG_BOUND_MS, help=f"p99 send lag above which the result is flagged (default {openmodel.LAG_BOUND_MS:g})")
    parser.add_argument("--allow-remote", action="store_true", help="allow a URL outside loopback and the lab's network")
    parser.add_argument("--out", help="JSON file to write (default results/latency/<time>-r<rate>.json)")
    parser.set_defaults(func=lambda args: main(args, Console(highlight=False)))

