"""The web UI the lab starts (`make ui`, the compose master): a real Locust with its web UI on
loopback, driven over HTTP as a browser and as an attacker's page would drive it.

The target is a small server of the test's own that answers /json as the contract says; what is
under test is the UI's guard and guidance (locustfiles/_web_ui.py). The same flow in a real
browser, on the compose lab, is in tests/test_docker_e2e.py.
"""

import http.server
import json
import re
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from conftest import ROOT

sys.path.insert(0, str(ROOT / "locustfiles"))
import _web_ui  # noqa: E402

SCENARIOS = {"JsonUser", "PlaintextUser", "ValidateUser", "DbUser", "QueriesUser"}


class JsonTarget(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    requests_seen = 0

    def do_GET(self):  # noqa: N802 (http.server's naming)
        type(self).requests_seen += 1
        body = b'{"message":"Hello, World!"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def target():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), JsonTarget)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def ui(target, tmp_path_factory):
    """`make ui`'s command (locustfiles, class picker, loopback), on a free port."""
    port = free_port()
    log = tmp_path_factory.mktemp("ui") / "locust.log"
    env = {"PATH": "/usr/bin:/bin", "LAB_TARGETS": f"fastapi={target},flask=http://127.0.0.1:9", "LAB_UI_HOSTS": "lab.example"}
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-m", "locust", "-f", "locustfiles", "--class-picker", "--web-host", "127.0.0.1",
                                    "--web-port", str(port)], cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            break
        except requests.ConnectionError:
            assert process.poll() is None, log.read_text()[-2000:]
            time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=20)


def same_origin(ui: str) -> dict:
    return {"Origin": ui}


def stop(ui: str) -> None:
    requests.post(f"{ui}/stop", headers=same_origin(ui), timeout=10)
    deadline = time.monotonic() + 20
    while requests.get(f"{ui}/lab/status", timeout=5).json()["state"] not in ("stopped", "ready"):
        assert time.monotonic() < deadline, "Locust did not stop"
        time.sleep(0.2)


def template_args(page: str) -> dict:
    return json.loads(re.search(r"window\.templateArgs = (\{.*?\});?\s*$", page, re.M | re.S).group(1))


FORM = {"user_count": 2, "spawn_rate": 2, "host": "", "user_classes": "JsonUser", "target": "fastapi"}


@pytest.mark.e2e
def test_a_foreign_host_header_is_refused(ui):
    port = ui.rsplit(":", 1)[1]
    answer = requests.get(f"{ui}/stats/requests", headers={"Host": f"rebound.example:{port}"}, timeout=10)
    assert answer.status_code == 403 and "LAB_UI_HOSTS" in answer.text
    # The names this machine goes by are served, and so is a name the user allowed.
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"lab.example:{port}"):
        assert requests.get(f"{ui}/stats/requests", headers={"Host": host}, timeout=10).status_code == 200, host


@pytest.mark.e2e
def test_a_cross_site_post_starts_nothing_and_no_answer_names_another_origin(ui, target):
    before = JsonTarget.requests_seen
    answer = requests.post(f"{ui}/swarm", data=FORM, headers={"Origin": "https://attacker.example"}, timeout=10)
    assert answer.status_code == 403 and "another origin" in answer.text
    assert not [h for h in answer.headers if h.lower().startswith("access-control-")]
    time.sleep(1)
    assert requests.get(f"{ui}/lab/status", timeout=10).json()["state"] == "ready"
    assert JsonTarget.requests_seen == before
    # A preflight is refused too, and a same-origin answer carries no CORS grant either.
    preflight = requests.options(f"{ui}/swarm", headers={"Origin": "https://attacker.example", "Access-Control-Request-Method": "POST"}, timeout=10)
    assert preflight.status_code == 403 and "Access-Control-Allow-Origin" not in preflight.headers
    own = requests.get(f"{ui}/stats/requests", headers=same_origin(ui), timeout=10)
    assert own.status_code == 200 and "Access-Control-Allow-Origin" not in own.headers


@pytest.mark.e2e
def test_the_start_page_ticks_json_offers_every_scenario_and_shows_the_bar(ui):
    page = requests.get(ui, timeout=10).text
    args = template_args(page)
    assert args["available_user_classes"] == ["JsonUser"]  # what the form ticks
    assert SCENARIOS <= set(args["users"])  # the rows it offers
    assert args["missing_host_warning"] is False
    target = args["extra_options"]["target"]
    assert target["choices"] == ["", "fastapi", "flask"] and target["help_text"] == "fastapi, flask"
    assert 'id="lab-bar"' in page and "lab/status" in page


@pytest.mark.e2e
def test_starting_with_no_target_is_a_visible_error_and_starts_nothing(ui):
    reply = requests.post(f"{ui}/swarm", data={**FORM, "target": ""}, headers=same_origin(ui), timeout=10).json()
    assert reply["success"] is False and reply["message"].startswith("Pick a target: open Custom parameters")
    assert requests.get(f"{ui}/lab/status", timeout=10).json()["state"] == "ready"


@pytest.mark.e2e
def test_a_host_that_contradicts_the_target_is_refused(ui):
    reply = requests.post(f"{ui}/swarm", data={**FORM, "host": "http://127.0.0.1:7"}, headers=same_origin(ui), timeout=10).json()
    assert reply["success"] is False and "but Host says http://127.0.0.1:7" in reply["message"]
    reply = requests.post(f"{ui}/swarm", data={**FORM, "target": "nginx"}, headers=same_origin(ui), timeout=10).json()
    assert reply["success"] is False and reply["message"].startswith("Unknown target 'nginx'")


@pytest.mark.e2e
def test_the_picked_target_is_loaded_and_named_while_running(ui, target):
    before = JsonTarget.requests_seen
    reply = requests.post(f"{ui}/swarm", data=FORM, headers=same_origin(ui), timeout=10).json()
    assert reply["success"] is True, reply
    try:
        deadline = time.monotonic() + 20
        while JsonTarget.requests_seen - before < 50:
            assert time.monotonic() < deadline, "no load reached the target"
            time.sleep(0.2)
        status = requests.get(f"{ui}/lab/status", timeout=10).json()
        assert status == {"state": "running", "target": "fastapi", "host": target, "scenarios": ["JsonUser"]}
        # Another address while it runs would mix two targets' numbers under one name: refused.
        edit = requests.post(f"{ui}/swarm", data={"user_count": 3, "spawn_rate": 3, "target": "flask"}, headers=same_origin(ui), timeout=10).json()
        assert edit["success"] is False and edit["message"].startswith("A test on ") and "stop it before" in edit["message"]
        stats = requests.get(f"{ui}/stats/requests", timeout=10).json()
        total = next(row for row in stats["stats"] if row["name"] == "Aggregated")
        assert total["num_requests"] > 0 and total["num_failures"] == 0
        assert template_args(requests.get(ui, timeout=10).text)["host"] == target  # the header names it
    finally:
        stop(ui)
    # The next test needs a choice again: the last target's address is not left in the Host field.
    assert template_args(requests.get(ui, timeout=10).text)["host"] == ""
    reply = requests.post(f"{ui}/swarm", data={**FORM, "target": ""}, headers=same_origin(ui), timeout=10).json()
    assert reply["success"] is False and reply["message"].startswith("Pick a target")


@pytest.mark.parametrize(
    "host, origin, refused",
    [
        ("127.0.0.1:8089", None, False),
        ("localhost:8089", "http://localhost:8089", False),
        ("[::1]:8089", "http://[::1]:8089", False),
        ("127.0.0.2:8089", None, False),  # LAB_BIND's other loopback addresses
        ("lab.example:8089", None, False),  # in LAB_UI_HOSTS
        ("rebound.example:8089", None, True),  # DNS rebinding: the page's own name
        ("rebound.example@127.0.0.1:8089", None, True),  # not a Host header
        ("[::ffff:7f00:1]:8089", None, False),  # IPv4-mapped loopback
        ("[::ffff:c000:201]:8089", None, True),  # IPv4-mapped 192.0.2.1
        ("", None, True),
        ("127.0.0.1:8089", "null", True),  # a sandboxed frame or a file
        ("127.0.0.1:8089", "http://localhost:8089", True),  # another origin, though local
        ("127.0.0.1:8089", "http://127.0.0.1:3000", True),  # another port is another origin
    ],
)
def test_who_may_use_the_web_ui(host, origin, refused, monkeypatch):
    monkeypatch.setenv("LAB_UI_HOSTS", "lab.example")
    assert (_web_ui.refusal(host, origin) is not None) is refused


@pytest.mark.e2e
def test_a_target_that_is_not_running_is_refused_with_how_to_start_it(ui):
    # flask is at the discard port here: nothing answers, as for a variant nobody started.
    reply = requests.post(f"{ui}/swarm", data={**FORM, "target": "flask"}, headers=same_origin(ui), timeout=10).json()
    assert reply["success"] is False
    assert reply["message"].startswith("flask is not running (http://127.0.0.1:9)") and "make serve FRAMEWORKS=flask" in reply["message"]
    assert requests.get(f"{ui}/lab/status", timeout=10).json()["state"] in ("ready", "stopped")  # nothing started


def test_without_lab_targets_the_ui_offers_every_framework_and_variant_on_loopback():
    """`make ui` sets no LAB_TARGETS: the targets come from services/*/service.toml (not baselines)."""
    from lab import catalog

    code = "import json, _common; print(json.dumps(_common.TARGETS))"
    env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "locustfiles", env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    offered = json.loads(result.stdout.strip().splitlines()[-1])
    assert offered == {name: service.local_url for name, service in catalog.targets().items()}
