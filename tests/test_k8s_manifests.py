"""deploy/k8s/, checked offline: the committed YAML is the generator's, every object validates against
the Kubernetes schemas (kubernetes-validate), and what compose states (image, start command, ports,
environment, hardening) is what the cluster gets, with Guaranteed QoS on whole cores."""

import json
import shutil
import subprocess
import sys
import time

import pytest
import yaml
from conftest import ROOT

from lab import catalog
from lab.engines.k8s import manifests, render
from lab.errors import LabError

BASE, ALL = manifests.DEPLOY / "base", manifests.DEPLOY / "overlays" / "all"
COMPOSE = manifests.read_compose()
# Compose services built from services/Dockerfile: the servers (targets and baselines).
SERVERS = {name: s for name, s in COMPOSE.items() if (s.get("build") or {}).get("context") == "services"}


def objects(folder=ALL) -> dict[tuple[str, str], dict]:
    return {(o.data["kind"], o.data["metadata"]["name"]): o.data for o in render.render(folder)}


def containers(obj: dict) -> list[dict]:
    return obj["spec"]["template"]["spec"]["containers"]


def workloads(folder=ALL) -> dict[str, dict]:
    return {name: obj for (kind, name), obj in objects(folder).items() if kind in ("Deployment", "StatefulSet")}


def test_committed_yaml_is_what_the_generator_writes():
    assert manifests.differences() == [], "run: python -m lab.engines.k8s.manifests --write"


def test_check_exits_non_zero_on_a_hand_edited_file(tmp_path):
    shutil.copytree(manifests.DEPLOY, tmp_path / "k8s")
    edited = tmp_path / "k8s" / "base" / "fastapi.yaml"
    edited.write_text(edited.read_text().replace("memory: 1Gi", "memory: 2Gi"))
    (tmp_path / "k8s" / "base" / "left-over.yaml").write_text("{}\n")
    found = manifests.differences(tmp_path / "k8s")
    assert found == [f"{edited}: differs from what the generator writes", f"{tmp_path / 'k8s' / 'base' / 'left-over.yaml'}: not generated any more (remove it)"]
    # And the command itself, on the committed tree: 0.
    done = subprocess.run([sys.executable, "-m", "lab.engines.k8s.manifests", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("folder", [BASE, ALL], ids=["base", "overlays/all"])
def test_every_object_validates_against_the_kubernetes_schemas(folder):
    rendered = render.render(folder)
    assert rendered
    assert render.problems(rendered) == []


def test_a_hand_broken_manifest_is_named_with_its_field(tmp_path):
    shutil.copytree(manifests.DEPLOY, tmp_path / "k8s")
    broken = tmp_path / "k8s" / "base" / "flask.yaml"
    broken.write_text(broken.read_text().replace("replicas: 1", "replicas: one").replace("readOnlyRootFilesystem: true", "readOnlyRootFilesytem: true"))
    found = render.problems([o for o in render.render(tmp_path / "k8s" / "base") if o.source == broken])
    assert len(found) == 1 and found[0].startswith(f"{broken}: Deployment/flask: spec.replicas: 'one' is not of type 'integer'"), found
    broken.write_text(broken.read_text().replace("replicas: one", "replicas: 1"))
    (found,) = render.problems([o for o in render.render(tmp_path / "k8s" / "base") if o.source == broken])
    assert found.startswith(f"{broken}: Deployment/flask: spec.template.spec.containers.0.securityContext: Additional properties are not allowed"), found
    assert "readOnlyRootFilesytem" in found


def test_kubectl_kustomize_renders_what_the_python_renderer_does():
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed (the Python renderer is checked above)")
    for folder in (BASE, ALL):
        done = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        by_kubectl = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(done.stdout) if o}
        assert by_kubectl == objects(folder)


def test_every_compose_service_is_in_the_overlay_and_the_blogs_targets_in_the_base():
    assert {name for kind, name in objects(ALL) if kind in ("Deployment", "StatefulSet")} == set(COMPOSE)
    base = {name for kind, name in objects(BASE) if kind == "Deployment"}
    wanted = set(catalog.frameworks()) | {s.baseline for s in catalog.frameworks().values()} | {"master", "worker"}
    assert base == wanted
    for name in set(SERVERS) | {"master", "postgres"}:
        assert ("Service", name) in objects(ALL), name  # the name compose's network gives it (LAB_TARGETS, DATABASE_URL)


def test_every_workload_gets_guaranteed_qos_on_whole_cores():
    for name, obj in workloads().items():
        for container in containers(obj):
            resources = container["resources"]
            assert resources["requests"] == resources["limits"], name
            assert set(resources["limits"]) == {"cpu", "memory"}, name
            assert resources["limits"]["cpu"].isdigit() and int(resources["limits"]["cpu"]) >= 1, name


def test_each_server_runs_composes_image_and_start_command():
    found = workloads()
    for name, service in SERVERS.items():
        (container,) = containers(found[name])
        assert container["image"] == service["image"]
        # Neither sets a command: both run the image's CMD, ./start.sh (services/Dockerfile).
        assert "command" not in service and "entrypoint" not in service
        assert "command" not in container and "args" not in container
    assert 'CMD ["./start.sh"]' in manifests.DOCKERFILE.read_text()


def test_each_server_has_composes_port_and_environment_and_a_health_probe():
    found = workloads()
    for name, service in SERVERS.items():
        (container,) = containers(found[name])
        port = catalog.services()[name].port
        assert [p["containerPort"] for p in container["ports"]] == [port]
        assert [p.split(":")[-1] for p in service["ports"]] == [str(port)]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env.pop("CPUS") is None  # from the pod's CPU limit (resourceFieldRef)
        assert env == {k: manifests.defaults(str(v)) for k, v in service["environment"].items()}
        assert container["readinessProbe"]["httpGet"]["path"] == "/health"


def test_locust_runs_composes_image_and_commands_with_workers_off_the_servers_nodes():
    found = workloads()
    for name in ("master", "worker"):
        (container,) = containers(found[name])
        assert container["image"] == COMPOSE[name]["image"]
        assert container["args"] == [manifests.defaults(part) for part in COMPOSE[name]["command"]]
    (term,) = found["worker"]["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    servers = {name for name, obj in found.items() if obj["spec"]["template"]["metadata"]["labels"].get(manifests.ROLE_LABEL) == "server"}
    assert servers == set(SERVERS)
    assert term["labelSelector"]["matchLabels"] == {manifests.ROLE_LABEL: "server"}


def test_postgres_is_seeded_from_the_one_schema_file():
    found = objects()
    assert found[("ConfigMap", "postgres-schema")]["data"] == {"10-schema.sql": manifests.SCHEMA.read_text()}
    (container,) = containers(found[("StatefulSet", "postgres")])
    assert container["image"] == COMPOSE["postgres"]["image"]
    assert {"name": "schema", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": True} in container["volumeMounts"]


def test_every_container_is_hardened_as_in_compose():
    for name, obj in workloads().items():
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0, name
        for container in pod["containers"]:
            assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True}, name
    assert "ALL" in COMPOSE["fastapi"]["cap_drop"] and "no-new-privileges:true" in COMPOSE["fastapi"]["security_opt"]


def test_compose_defaults_are_read_as_a_fresh_clone_sees_them():
    assert manifests.defaults("${A:-${B:-127.0.0.1}}:8089:8089") == "127.0.0.1:8089:8089"
    assert manifests.defaults("${UNSET}x${N-2}") == "x2"
    with pytest.raises(LabError, match="no default"):
        manifests.defaults("${POSTGRES_PASSWORD:?needed}")


def test_a_compose_service_without_its_service_toml_is_refused():
    extra = {**COMPOSE, "newframework": {**COMPOSE["fastapi"], "build": {**COMPOSE["fastapi"]["build"], "args": {"SERVICE": "newframework", "PORT": "8099"}}}}
    with pytest.raises(LabError, match="newframework"):
        manifests.compose_targets(extra)


def test_a_fractional_cpu_budget_is_refused():
    changed = {name: {**s, "cpus": "0.5"} if name == "flask" else s for name, s in COMPOSE.items()}
    with pytest.raises(LabError, match="flask has cpus 0.5"):
        manifests.compose_targets(changed)


def docker_args(pod: dict, volumes_root) -> list[str]:
    """`docker run` arguments that give a container what the pod gives it: its user, no capabilities, no new
    privileges, a read-only root, its emptyDirs as the kubelet makes them (0777 folders, bind-mounted), its
    ConfigMaps as read-only files, its environment (CPUS from its CPU limit), its image and args."""
    (container,) = pod["containers"]
    security, own = pod["securityContext"], container["securityContext"]
    assert own["readOnlyRootFilesystem"] and own["capabilities"]["drop"] == ["ALL"] and not own["allowPrivilegeEscalation"]
    args = ["--network", "none", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--user", f"{security['runAsUser']}:{security['runAsGroup']}"]  # fmt: skip
    volumes = {v["name"]: v for v in pod["volumes"]}
    configmaps = {o["metadata"]["name"]: o for (kind, _), o in objects(BASE).items() if kind == "ConfigMap"}
    for mount in container.get("volumeMounts") or []:
        folder = volumes_root / container["name"] / mount["name"]
        folder.mkdir(parents=True)
        folder.chmod(0o777)
        volume = volumes[mount["name"]]
        if "configMap" in volume:
            for name, text in configmaps[volume["configMap"]["name"]]["data"].items():
                (folder / name).write_text(text)
                (folder / name).chmod(0o644)
        args += ["--volume", f"{folder}:{mount['mountPath']}{':ro' if mount.get('readOnly') else ''}"]
    for item in container.get("env") or []:
        value = item.get("value", container["resources"]["limits"]["cpu"] if "valueFrom" in item else "")
        args += ["--env", f"{item['name']}={value}"]
    return [*args, container["image"], *(container.get("args") or [])]


def probe_inside(container_id: str, probe: dict) -> str:
    """The readiness probe run inside the container (no network): the HTTP status, or the command's output."""
    if "exec" in probe:
        done = subprocess.run(["docker", "exec", container_id, *probe["exec"]["command"]], capture_output=True, text=True, timeout=30)
        return "ready" if done.returncode == 0 else done.stdout + done.stderr
    get = probe["httpGet"]
    port = get["port"]
    headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
    code = (f"import urllib.request, urllib.error\ntry:\n    print(urllib.request.urlopen(urllib.request.Request("
            f"'http://127.0.0.1:{port}{get['path']}', headers={headers!r}), timeout=9).status)\n"
            "except urllib.error.HTTPError as e:\n    print(e.code)")  # fmt: skip
    done = subprocess.run(["docker", "exec", container_id, "python", "-c", code], capture_output=True, text=True, timeout=30)
    return done.stdout.strip() or done.stderr.strip()[-200:]


@pytest.mark.docker
def test_the_base_images_run_with_their_pods_security_context(tmp_path):
    """Read-only root, no capabilities, the pod's user and emptyDirs: each base workload becomes ready in Docker
    (the servers answer /health: 503, since no database is reachable without a network; PostgreSQL is seeded)."""
    from test_docker_config import tool_or_skip

    tool_or_skip("docker", "info")
    for name, obj in workloads(BASE).items():
        pod = obj["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        if name == "worker":
            continue  # it only connects to the master; the master is checked with the same image and settings
        # Named ports: the probe's port is the container's port of that name.
        ports = {p["name"]: p["containerPort"] for p in container.get("ports") or []}
        probe = json_copy(container["readinessProbe"])
        if "httpGet" in probe:
            probe["httpGet"]["port"] = ports.get(probe["httpGet"]["port"], probe["httpGet"]["port"])
        started = subprocess.run(["docker", "run", "--detach", *docker_args(pod, tmp_path / name)], capture_output=True, text=True, timeout=60)
        assert started.returncode == 0, started.stderr
        container_id = started.stdout.strip()
        try:
            wanted = {"ready"} if "exec" in probe else ({"200", "503"} if name in SERVERS else {"200"})
            found = ""
            for _ in range(60):
                found = probe_inside(container_id, probe)
                if found in wanted:
                    break
                time.sleep(0.5)
            logs = subprocess.run(["docker", "logs", "--tail", "15", container_id], capture_output=True, text=True).stderr
            assert found in wanted, f"{name}: {found}\n{logs}"
            if name == "postgres":
                tables = subprocess.run(["docker", "exec", container_id, "psql", "-U", "postgres", "-h", "127.0.0.1", "-d", "lab", "-Atc",
                                         "select table_name from information_schema.tables where table_schema = 'public' order by 1"],
                                        capture_output=True, text=True, timeout=30)  # fmt: skip
                assert tables.stdout.split() == ["fortune", "world"], tables.stderr
        finally:
            subprocess.run(["docker", "rm", "--force", container_id], capture_output=True, timeout=60)


def json_copy(data):
    return json.loads(json.dumps(data))
