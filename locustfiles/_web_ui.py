"""The lab's additions to Locust's web UI, through Locust's and Flask's extension points (no fork).

Safety: the UI starts load, so no other web page may drive it.
- A Host header that does not name this machine (a loopback address or `localhost`, or a name
  listed in LAB_UI_HOSTS) is refused: with DNS rebinding, a foreign page would otherwise reach
  the UI as its own origin.
- A request whose Origin is not the UI's own is refused (a cross-site POST to /swarm), and no
  answer names another origin in Access-Control-Allow-Origin (Locust enables CORS everywhere).
  Requests without Origin (curl, the lab's runner) are served: browsers always send Origin on a
  cross-origin POST or fetch.

Guidance:
- json is the one scenario ticked on the start page (the table still offers all of them);
- the target is picked by name (Custom parameters, Target); starting with neither a target nor
  a Host gives a visible error that says where to pick one, and a Host that contradicts the
  target is refused rather than silently overridden;
- a bar at the foot of the page says what is under load (target, address, scenario), or how to start.
"""

import ipaddress
import os
import re
import socket
from urllib.parse import urlsplit

from flask import before_render_template, jsonify, request
from werkzeug.datastructures import ImmutableMultiDict

# locust.runners.STATE_RUNNING and STATE_SPAWNING, by value: the tests import this module without
# Locust (whose gevent patching must not happen inside pytest).
UNDER_LOAD = ("running", "spawning")

DEFAULT_SCENARIO = "JsonUser"
ALLOWED_HOSTS_ENV = "LAB_UI_HOSTS"


def allowed_hosts() -> set[str]:
    return {name.strip().lower() for name in os.environ.get(ALLOWED_HOSTS_ENV, "").split(",") if name.strip()}


# A Host header: a name or IPv4 address, or an IPv6 address in brackets, and an optional port.
HOST_HEADER = re.compile(r"(?P<name>[A-Za-z0-9.-]+|\[(?P<ipv6>[0-9A-Fa-f:.]+)\])(:[0-9]{1,5})?")


def host_name(header: str) -> str:
    """'127.0.0.1:8089' -> '127.0.0.1', '[::1]:8089' -> '::1'; '' for anything else."""
    found = HOST_HEADER.fullmatch(header)
    return "" if found is None else (found["ipv6"] or found["name"]).lower()


def is_local(name: str) -> bool:
    if name == "localhost" or name in allowed_hosts():
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    # ::ffff:127.0.0.1 is loopback too (Python says so only from 3.12.4 on).
    return address.is_loopback or bool(getattr(address, "ipv4_mapped", None) and address.ipv4_mapped.is_loopback)


def refusal(host: str, origin: str | None) -> str | None:
    """Why a request must not be served; None when it may."""
    name = host_name(host)
    if not name or not is_local(name):
        return f"refused: Host {host[:100]!r} is not this machine (to allow a name, add it to {ALLOWED_HOSTS_ENV})"
    if origin is not None:
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
            return f"refused: a request from another origin ({origin[:100]!r}) may not use this UI"
    return None


def swarm_problem(form, targets: dict[str, str], running_on: str | None) -> str | None:
    """What is wrong with a start (or, while a test runs on `running_on`, an edit) from the UI's
    form; None when nothing is."""
    target = form.get("target", "")
    host = form.get("host", "").strip()
    running = running_on is not None
    if target and target not in targets:
        return f"Unknown target {target[:50]!r}: pick one of {', '.join(targets)}."
    if running and target and targets[target] != running_on.rstrip("/"):
        # Only users spawned from now on would go there: a mix, under one name.
        return f"A test on {running_on} is running: stop it before picking another target."
    # A Host that is some target's address is what the page kept from the last test: the target wins.
    if target and host and host.rstrip("/") not in targets.values():
        return f"Target {target} is {targets[target]}, but Host says {host[:100]}: clear Host, or pick no target."
    if not target and not host and not running:
        return f"Pick a target: open Custom parameters above and choose one of {', '.join(targets)} (or type a URL in Host)."
    return None


def not_running(target: str, targets: dict[str, str]) -> str | None:
    """Why a picked target cannot take load: nothing answers at its address (a variant not started)."""
    if target not in targets:
        return None
    url = urlsplit(targets[target])
    try:
        socket.create_connection((url.hostname, url.port or 80), timeout=1).close()
    except OSError:
        return (f"{target} is not running ({targets[target]}): start it first, e.g. `make serve FRAMEWORKS={target}`, "
                f"or in containers `docker compose --profile variants up -d {target}`.")  # fmt: skip
    return None


def install(environment, targets: dict[str, str]) -> None:
    """Hook the lab's rules into this master's web UI (no-op where there is none)."""
    web_ui = environment.web_ui
    if web_ui is None:
        return
    app = web_ui.app
    by_url = {url: name for name, url in targets.items()}

    def running() -> bool:
        return environment.runner is not None and environment.runner.state in UNDER_LOAD

    @app.before_request
    def guard():
        problem = refusal(request.host, request.headers.get("Origin"))
        if problem:
            return problem + "\n", 403, {"Content-Type": "text/plain; charset=utf-8"}
        if request.endpoint == "locust.swarm":
            under_load = (environment.host or "") if running() else None
            problem = swarm_problem(request.form, targets, under_load) or not_running(request.form.get("target", ""), targets)
            if problem:
                # Locust's own form shows `message` in a red alert when success is false.
                return jsonify({"success": False, "message": problem, "host": environment.host})
            if request.form.get("target"):
                # Locust then sets the host (master and workers) to the target's address itself.
                fields = [(k, v) for k, v in request.form.items(multi=True) if k != "host"]
                request.form = ImmutableMultiDict([*fields, ("host", targets[request.form["target"]])])
        return None

    def no_cors(response):
        # The UI is same-origin: no answer tells a browser that another origin may read it.
        for header in [h for h in response.headers.keys() if h.lower().startswith("access-control-")]:
            del response.headers[header]
        return response

    # Flask runs after_request functions last-registered first; Locust's CORS hook was registered
    # before this one, so it goes to the front of the list to run after it.
    app.after_request_funcs.setdefault(None, []).insert(0, no_cors)

    @app.after_request
    def add_bar(response):
        if request.endpoint == "locust.index" and response.status_code == 200 and response.mimetype == "text/html":
            response.set_data(response.get_data(as_text=True).replace("</body>", BAR + "</body>", 1))
        return response

    @app.route("/lab/status")
    def status():
        host = environment.host or ""
        scenarios = [cls.__name__ for cls in environment.user_classes] if running() else []
        state = environment.runner.state if environment.runner else ""
        return jsonify({"state": state, "target": by_url.get(host.rstrip("/"), ""), "host": host, "scenarios": scenarios})

    def guide(sender, template, context, **_extra):
        args = context.get("template_args")
        if not isinstance(args, dict):
            return
        offered = args.get("available_user_classes") or []
        host = args.get("host") or ""
        context["template_args"] = {
            **args,
            # Between tests, the last target's address in the Host field would start the next test
            # without a choice: Host stays for URLs typed by hand, and the target is picked each time.
            "host": "" if not running() and host.rstrip("/") in by_url else host,
            # The React form ticks what this list names, and lists the rows of `users`: one ticked, all shown.
            "available_user_classes": [DEFAULT_SCENARIO] if DEFAULT_SCENARIO in offered else args.get("available_user_classes"),
            # Locust's "no host attribute set" hint stays up after a target is picked; the bar guides instead.
            "missing_host_warning": False if targets else args.get("missing_host_warning"),
        }

    # Kept alive by the app's attribute: blinker holds receivers weakly.
    app.extensions["lab_guide"] = guide
    before_render_template.connect(guide, app)


# A fixed bar outside Locust's React root, refreshed from /lab/status; below MUI's dialogs (z-index 1300),
# and the page padded so it hides nothing.
BAR = """
<style>body { padding-bottom: 40px; }</style>
<div id="lab-bar" style="position:fixed;left:0;right:0;bottom:0;z-index:1000;padding:6px 16px;
 font:14px/1.4 system-ui,sans-serif;background:#0d47a1;color:#fff">Framework load lab</div>
<script>
(function () {
  var bar = document.getElementById("lab-bar");
  function show(s) {
    if (s.state === "running" || s.state === "spawning") {
      bar.textContent = "Under load: " + (s.target || "a host you typed") + " (" + s.host + "), scenario " +
        s.scenarios.join(", ");
    } else {
      bar.textContent = "Pick a scenario (json is ticked) and a target (Custom parameters, Target), then Start." +
        (s.target ? " Last target: " + s.target + "." : "");
    }
  }
  function poll() {
    fetch("lab/status").then(function (r) { return r.json(); }).then(show).catch(function () {});
  }
  poll();
  setInterval(poll, 2000);
})();
</script>
"""

