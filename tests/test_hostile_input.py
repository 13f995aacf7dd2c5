"""Property-based hostile input against every framework's real server: never a 500, never a hang.

The same generated cases go to all three, so one framework cannot quietly accept what
another refuses with a crash.
"""

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
import requests
from conftest import FRAMEWORKS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.contract import conformance

TIMEOUT = 20  # seconds; /io may legitimately wait up to 10 s

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same cases on every run and every framework
)

# Query values: anything text, plus integers around every limit (/io waits are kept short).
numbers = st.integers(min_value=-(10**20), max_value=10**20).filter(lambda n: not 30 < n <= 10_000).map(str)
query_values = st.one_of(st.text(max_size=30), numbers, st.sampled_from(["", "0", "-0", "1e3", "0x10", "NaN", "∞", " 7 ", "9" * 400]))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)
# Documents shaped like the schema, with every field possibly wrong.
people = st.fixed_dictionaries(
    {},
    optional={
        "name": json_values,
        "email": st.one_of(st.emails(), json_values),
        "age": st.one_of(st.integers(), json_values),
        "address": st.one_of(st.fixed_dictionaries({}, optional={"street": json_values, "city": json_values, "postcode": json_values}), json_values),
        "tags": st.one_of(st.lists(st.text(max_size=10), max_size=15), json_values),
    },
)


def no_server_error(response: requests.Response) -> None:
    assert response.status_code < 500, f"{response.request.method} {response.request.url}: {response.status_code} {response.text[:300]}"


@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("path, param", [("/io", "ms"), ("/cpu", "n")])
def test_query_parameters(local_services, framework, path, param):
    base = local_services[framework]

    @SETTINGS
    @given(value=query_values)
    def check(value):
        response = requests.get(base + path, params={param: value}, timeout=TIMEOUT)
        no_server_error(response)
        if response.status_code != 200:
            assert response.status_code in (400, 422)
            assert "errors" in response.json()

    check()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_validate_bodies(local_services, framework):
    base = local_services[framework]

    @SETTINGS
    @given(document=st.one_of(people, json_values))
    def check(document):
        response = requests.post(base + "/validate", data=json.dumps(document), headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
        no_server_error(response)
        assert response.status_code in (200, 400, 422)

    check()


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_validate_raw_bytes(local_services, framework):
    base = local_services[framework]

    @SETTINGS
    @given(body=st.binary(max_size=200))
    def check(body):
        response = requests.post(base + "/validate", data=body, headers={"Content-Type": "application/json"}, timeout=TIMEOUT)
        no_server_error(response)
        assert response.status_code in (400, 422)

    check()


def server_processes(port: int) -> list[psutil.Process]:
    """The server listening on `port` (found by its command line) and its worker processes."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if ("uvicorn" in cmdline and f"--port {port}" in cmdline) or ("gunicorn" in cmdline and f":{port}" in cmdline):
            return [process, *process.children(recursive=True)]
    raise AssertionError(f"no server process found for port {port}")


def peak_rss(process: psutil.Process) -> int:
    """The process's peak resident memory so far (VmHWM), in bytes."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1)) * 1024


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_endless_chunked_body_is_cut_off(local_services, framework):
    """A 128 MiB chunked POST (no Content-Length) is refused at the 1 MiB limit while it arrives:
    the server answers 413 long before the body ends, and no worker's peak memory grows by the body."""
    base = local_services[framework]
    processes = server_processes(urlsplit(base).port)
    before = {p.pid: peak_rss(p) for p in processes}
    total = 128 * conformance.MAX_BODY_BYTES
    status, _, sent = conformance.post_chunked(base, "/validate", conformance.endless_string(total))
    grown = max(peak_rss(p) - before[p.pid] for p in processes)
    assert status == 413, f"{framework}: status {status} for a {total}-byte chunked body"
    assert sent < 16 * conformance.MAX_BODY_BYTES, f"{framework}: answered only after {sent} of {total} bytes"
    assert grown < 32 * 1024 * 1024, f"{framework}: a worker's peak memory grew by {grown / 2**20:.0f} MiB"
