#!/usr/bin/env python3
"""Offline stand-ins for the lab's Docker base images.

On machines where no container registry is reachable (CI sandboxes), `docker
pull python:...` and `docker pull postgres:...` fail, so nothing in the lab can
be built. This module builds look-alike images from a Debian bookworm rootfs
(debootstrap from the machine's own apt mirror) plus the machine's Python 3.12
or Debian's postgresql-15, and `docker import`s them under the official tag.

It never touches a tag that already exists locally, so on a normal machine with
the real images it does nothing. Every stand-in carries the label
`lab.standin=true` so results can say they were not made on official images.

    python3 tests/support/standins.py [--force] [--verify] [--no-verify] [--offline] IMAGE...

--force rebuilds existing stand-ins (never replaces a real, unlabelled image).
Library use (tests):  ensure_image("postgres:15.14-bookworm") -> bool (built?)
Cache: /var/cache/lab-standins (LAB_STANDIN_CACHE); delete it to re-debootstrap.
The Python copied in is the running interpreter if it is 3.12, else
LAB_STANDIN_PYTHON, python3.12 on PATH or pyenv's versions/3.12.*.
Stdlib only, Python 3.11+.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import hashlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("LAB_STANDIN_CACHE", "/var/cache/lab-standins"))
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY = "http://deb.debian.org/debian-security"

# Runtime libraries the official slim image keeps for CPython's extension
# modules (ssl, ctypes, sqlite3, bz2, lzma, readline, curses, dbm, uuid, ...).
PYTHON_PACKAGES = [
    "ca-certificates", "netbase", "tzdata",
    "libssl3", "libffi8", "zlib1g", "libsqlite3-0", "libbz2-1.0", "liblzma5",
    "libreadline8", "libncursesw6", "libtinfo6", "libexpat1", "libuuid1",
    "libgdbm6", "libgdbm-compat4", "libnsl2", "libcrypt1",
]
POSTGRES_PACKAGES = ["ca-certificates", "netbase", "tzdata", "postgresql-15"]

PY_PATH = "/usr/local/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PG_MAJOR = "15"
PG_BIN = f"/usr/lib/postgresql/{PG_MAJOR}/bin"
PG_PATH = f"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:{PG_BIN}"
PG_VERIFY_PORT = 15439  # below the ephemeral range (see docker-compose.yml), not the lab's 15432


class StandinError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(f"standins: {msg}", flush=True)


def run(cmd, **kw) -> subprocess.CompletedProcess:
    """Run a command, raising with its output tail if it fails."""
    kw.setdefault("check", False)
    res = subprocess.run(cmd, **kw)
    if res.returncode != 0:
        tail = ""
        for stream in (res.stdout, res.stderr):
            if isinstance(stream, (bytes, str)) and stream:
                text = stream.decode(errors="replace") if isinstance(stream, bytes) else stream
                tail += "\n" + "\n".join(text.splitlines()[-25:])
        raise StandinError(f"command failed ({res.returncode}): {' '.join(map(str, cmd))}{tail}")
    return res


def capture(cmd, **kw) -> str:
    return run(cmd, capture_output=True, text=True, **kw).stdout.strip()


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def is_standin(tag: str) -> bool:
    out = subprocess.run(["docker", "image", "inspect", "--format",
                          '{{ index .Config.Labels "lab.standin" }}', tag],
                         capture_output=True, text=True)
    return out.returncode == 0 and out.stdout.strip() == "true"


# --- apt mirror ----------------------------------------------------------------

def apt_sources() -> tuple[str, str]:
    """(debian mirror, security mirror) as this machine's apt is configured.

    Using the machine's own mirror matters: it is the one that is reachable
    (and may be a snapshot or a local proxy).
    """
    entries: list[tuple[str, list[str]]] = []  # (uri, suites)
    files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")) \
        + sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
    for name in files:
        try:
            text = Path(name).read_text()
        except OSError:
            continue
        if name.endswith(".sources"):  # deb822 stanzas
            for stanza in re.split(r"\n\s*\n", text):
                fields = {}
                for line in stanza.splitlines():
                    if line.startswith("#") or ":" not in line or line[:1].isspace():
                        continue
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.split()
                if "deb" not in fields.get("types", []) or fields.get("enabled", ["yes"])[0] == "no":
                    continue
                for uri in fields.get("uris", []):
                    entries.append((uri, fields.get("suites", [])))
        else:
            for line in text.splitlines():
                # "deb [arch=.. signed-by=..] URI SUITE COMPONENT..."
                parts = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
                if len(parts) >= 3 and parts[0] == "deb":
                    entries.append((parts[1], parts[2:3]))
    mirror = next((u for u, s in entries if SUITE in s), DEFAULT_MIRROR)
    security = next((u for u, s in entries if f"{SUITE}-security" in s), DEFAULT_SECURITY)
    return mirror.rstrip("/"), security.rstrip("/")


# --- rootfs (cached) -----------------------------------------------------------

@contextlib.contextmanager
def cache_lock():
    """Serialise builds (parallel test workers would otherwise debootstrap twice)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def base_rootfs_tar(flavour: str, packages: list[str]) -> Path:
    """A debootstrapped bookworm minbase + packages, as a cached tarball."""
    mirror, _ = apt_sources()
    arch = capture(["dpkg", "--print-architecture"])
    key = hashlib.sha256(repr((SUITE, mirror, arch, sorted(packages))).encode()).hexdigest()[:12]
    tar = CACHE / f"rootfs-{flavour}-{SUITE}-{arch}-{key}.tar"
    if tar.exists():
        log(f"reusing cached rootfs {tar}")
        return tar
    if shutil.which("debootstrap") is None:
        raise StandinError("debootstrap is not installed (run .ci/docker-setup.sh, or apt-get install debootstrap)")
    debs = CACHE / "debs"  # shared .deb cache: the second flavour downloads only its extras
    debs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"debootstrap-{flavour}-", dir=CACHE))
    try:
        log(f"debootstrap {SUITE} minbase + {len(packages)} packages from {mirror} (takes a few minutes the first time)")
        t0 = time.monotonic()
        run(["debootstrap", "--variant=minbase", f"--arch={arch}", f"--cache-dir={debs}",
             "--include=" + ",".join(packages), SUITE, str(work / "rootfs"), mirror],
            capture_output=True, text=True)
        log(f"debootstrap done in {time.monotonic() - t0:.0f} s")
        # debootstrap leaves every .deb in the target too; keep the cache lean.
        _clean_apt(work / "rootfs")
        run(["tar", "--numeric-owner", "-C", str(work / "rootfs"), "-cf", str(tar) + ".tmp", "."])
        os.replace(str(tar) + ".tmp", tar)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tar


def unpack(tar: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    run(["tar", "--numeric-owner", "-C", str(dest), "-xf", str(tar)])


def finish_debian(root: Path) -> None:
    """Make the rootfs look like the official bookworm images' base layer."""
    mirror, security = apt_sources()
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    (root / "etc/apt/sources.list.d/debian.sources").write_text(
        f"Types: deb\nURIs: {mirror}\nSuites: {SUITE} {SUITE}-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        f"Types: deb\nURIs: {security}\nSuites: {SUITE}-security\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")
    # The machine may reach PyPI/Debian only through a TLS-inspecting proxy;
    # trust what the machine trusts, or pip inside `docker build` cannot work.
    extra = sorted(glob.glob("/usr/local/share/ca-certificates/**/*.crt", recursive=True))
    if extra:
        dest = root / "usr/local/share/ca-certificates"
        dest.mkdir(parents=True, exist_ok=True)
        for crt in extra:
            shutil.copy2(crt, dest / Path(crt).name)
        run(["chroot", str(root), "update-ca-certificates"], capture_output=True, text=True)
        log(f"added this machine's local CA certificates to the image: {[Path(c).name for c in extra]}")
    _clean_apt(root)


def _clean_apt(root: Path) -> None:
    """As the official images: no package lists or .debs (apt-get update first)."""
    for pattern in ("var/lib/apt/lists/*", "var/cache/apt/*.bin", "var/cache/apt/archives/*.deb",
                    "var/log/*.log", "var/log/apt/*", "tmp/*"):
        for p in glob.glob(str(root / pattern)):
            if os.path.isdir(p) and not os.path.islink(p):
                if not p.endswith("/partial"):
                    shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)


def docker_import(root: Path, tag: str, changes: list[str]) -> None:
    """tar the rootfs straight into `docker import` (no big temp file)."""
    cmd = ["docker", "import"]
    for c in changes:
        cmd += ["--change", c]
    cmd += ["-", tag]
    tar = subprocess.Popen(["tar", "--numeric-owner", "-C", str(root),
                            "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*",
                            "-cf", "-", "."], stdout=subprocess.PIPE)
    try:
        res = subprocess.run(cmd, stdin=tar.stdout, capture_output=True, text=True)
    finally:
        tar.stdout.close()
        tar.wait()
    if tar.returncode != 0 or res.returncode != 0:
        raise StandinError(f"docker import {tag} failed: {res.stderr.strip()}")


def add_config(tag: str, instructions: list[str]) -> None:
    """Apply Dockerfile config instructions that `docker import --change`
    rejects on older engines (STOPSIGNAL on 20.10): a layer-less rebuild."""
    with tempfile.TemporaryDirectory() as d:
        Path(d, "Dockerfile").write_text(f"FROM {tag}\n" + "\n".join(instructions) + "\n")
        run(["docker", "build", "-q", "-t", tag, d], capture_output=True, text=True,
            env={**os.environ, "DOCKER_BUILDKIT": "0"})


# --- python:3.12.*-slim-bookworm ------------------------------------------------

def find_python312() -> tuple[Path, str]:
    """(installation prefix, version) of this machine's CPython 3.12."""
    if sys.version_info[:2] == (3, 12):
        return Path(sys.base_prefix), platform.python_version()
    root = subprocess.run(["pyenv", "root"], capture_output=True, text=True).stdout.strip() \
        if shutil.which("pyenv") else ""
    candidates = [os.environ.get("LAB_STANDIN_PYTHON", ""), shutil.which("python3.12") or ""]
    candidates += sorted(glob.glob(f"{root or '/root/.pyenv'}/versions/3.12.*/bin/python3.12"), reverse=True)
    for exe in filter(None, candidates):
        # A pyenv shim exists even when it cannot run; ask the interpreter itself.
        res = subprocess.run([exe, "-c", "import sys, platform; print(sys.base_prefix); "
                              "print(platform.python_version())"], capture_output=True, text=True)
        if res.returncode == 0:
            prefix, version = res.stdout.split()
            if version.startswith("3.12."):
                return Path(prefix), version
    raise StandinError("no Python 3.12 installation found (set LAB_STANDIN_PYTHON=/path/to/python3.12)")


def _copy_python(prefix: Path, root: Path) -> None:
    local = root / "usr/local"
    stdlib = "lib/python3.12"

    def ignore(dirpath: str, names: list[str]) -> set[str]:
        rel = os.path.relpath(dirpath, prefix)
        # What the official image deletes after `make install`.
        skip = {n for n in names if n in ("test", "tests", "idle_test", "__pycache__")
                or n.endswith((".pyc", ".pyo")) or (n.startswith("libpython") and n.endswith(".a"))}
        if rel == f"{stdlib}/site-packages":
            # Only what a fresh CPython install has (pip); not this machine's extras.
            skip |= {n for n in names if not (n == "README.txt" or n == "pip" or n.startswith("pip-"))}
        return skip

    for sub in ("bin", "lib", "include"):
        shutil.copytree(prefix / sub, local / sub, symlinks=True, ignore=ignore, dirs_exist_ok=True)

    # The build prefix is baked into scripts' shebangs and the build config
    # (sysconfig, python-config, pkg-config); point them at /usr/local.
    old, new = str(prefix).encode(), b"/usr/local"
    texts = [p for p in (local / "bin").iterdir() if p.is_file() and not p.is_symlink()]
    texts += list((local / stdlib).glob("_sysconfigdata_*.py"))
    texts += list((local / stdlib).glob("config-3.12-*/Makefile"))
    texts += list((local / "lib/pkgconfig").glob("*.pc"))
    for p in texts:
        data = p.read_bytes()
        if not data.startswith(b"\x7fELF") and old in data:
            p.write_bytes(data.replace(old, new))
    for name, target in (("python3", "python3.12"), ("python", "python3"),
                         ("pip3", "pip3.12"), ("pip", "pip3")):
        link = local / "bin" / name
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(target)
    # libpython3.12.so lives in /usr/local/lib now; the binary's rpath points
    # at the build prefix, so the loader must find it through ld.so.cache.
    run(["chroot", str(root), "ldconfig"])


def build_python(tag: str) -> str:
    prefix, version = find_python312()
    tar = base_rootfs_tar("python", PYTHON_PACKAGES)
    work = Path(tempfile.mkdtemp(prefix="standin-python-", dir=CACHE))
    try:
        root = work / "rootfs"
        unpack(tar, root)
        finish_debian(root)
        _copy_python(prefix, root)
        if glob.glob("/usr/local/share/ca-certificates/*.crt"):
            # pip 23 verifies with its own bundled certifi, not the system
            # store that now includes the machine's CAs: point it there.
            (root / "etc/pip.conf").write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
        docker_import(root, tag, [
            f"ENV PATH={PY_PATH}",
            "ENV LANG=C.UTF-8",
            f"ENV PYTHON_VERSION={version}",  # the real one copied in, not the tag's
            "LABEL lab.standin=true",
            f"LABEL lab.standin.source=\"debootstrap {SUITE} + local CPython {version} from {prefix}\"",
            'CMD ["python3"]',
        ])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return f"debootstrap + local Python {version}"


def verify_python(tag: str, network: bool = True) -> None:
    out = capture(["docker", "run", "--rm", tag, "python3", "-c",
                   "import ssl, sqlite3, ctypes, json, bz2, lzma, zlib, readline, uuid, decimal, sys;"
                   "print('ok', sys.prefix, sys.version.split()[0])"])
    if not out.startswith("ok /usr/local "):
        raise StandinError(f"{tag}: python3 self-check printed {out!r}")
    pip = capture(["docker", "run", "--rm", tag, "pip", "--version"])
    log(f"verified {tag}: {out}; {pip}")
    if not network:
        return
    with tempfile.TemporaryDirectory() as d:
        Path(d, "Dockerfile").write_text(
            f"FROM {tag}\nRUN pip install --no-cache-dir six && python -c 'import six; print(six.__version__)'\n")
        probe = "lab-standin-verify:pip"
        try:
            run(["docker", "build", "-q", "--no-cache", "--force-rm", "-t", probe, d],
                capture_output=True, text=True, env={**os.environ, "DOCKER_BUILDKIT": "0"})
        finally:
            subprocess.run(["docker", "image", "rm", "-f", probe], capture_output=True)
    log(f"verified {tag}: `pip install six` from PyPI inside docker build works")


# --- postgres:15.*-bookworm --------------------------------------------------------

def build_postgres(tag: str) -> str:
    tar = base_rootfs_tar("postgres", POSTGRES_PACKAGES)
    work = Path(tempfile.mkdtemp(prefix="standin-postgres-", dir=CACHE))
    try:
        root = work / "rootfs"
        unpack(tar, root)
        finish_debian(root)
        chroot = ["chroot", str(root)]
        # The Debian package's postinst made a "main" cluster; the image
        # initialises $PGDATA on first start instead, like the official one.
        for p in (f"var/lib/postgresql/{PG_MAJOR}", f"etc/postgresql/{PG_MAJOR}"):
            shutil.rmtree(root / p, ignore_errors=True)
        # The official image's postgres is uid/gid 999: keep volumes interchangeable.
        if subprocess.run(chroot + ["getent", "passwd", "999"], capture_output=True).returncode != 0 and \
                subprocess.run(chroot + ["getent", "group", "999"], capture_output=True).returncode != 0:
            run(chroot + ["groupmod", "-g", "999", "postgres"])
            run(chroot + ["usermod", "-u", "999", "-g", "999", "postgres"])
            for p in ("var/lib/postgresql", "var/run/postgresql", "var/log/postgresql", "etc/postgresql",
                      "etc/postgresql-common", "etc/ssl/private"):
                if (root / p).exists():
                    run(chroot + ["chown", "-R", "postgres:postgres", "/" + p])
            run(chroot + ["chgrp", "ssl-cert", "/etc/ssl/private"], capture_output=True)
        data = root / "var/lib/postgresql/data"
        data.mkdir(parents=True, exist_ok=True)
        run(chroot + ["chown", "-R", "postgres:postgres", "/var/lib/postgresql", "/var/run/postgresql"])
        os.chmod(data, 0o1777)
        os.chmod(root / "var/run/postgresql", 0o3777)
        (root / "docker-entrypoint-initdb.d").mkdir(exist_ok=True)
        entry = root / "usr/local/bin/docker-entrypoint.sh"
        shutil.copy2(HERE / "postgres-standin-entrypoint.sh", entry)
        os.chmod(entry, 0o755)
        (root / "docker-entrypoint.sh").symlink_to("usr/local/bin/docker-entrypoint.sh")
        for name in ("pg_isready", "psql"):
            (root / "usr/local/bin" / name).symlink_to(f"{PG_BIN}/{name}")
        version = capture(chroot + ["dpkg-query", "-W", "-f", "${Version}", f"postgresql-{PG_MAJOR}"])
        docker_import(root, tag, [
            f"ENV PATH={PG_PATH}",
            "ENV LANG=C.UTF-8",
            f"ENV PG_MAJOR={PG_MAJOR}",
            f"ENV PG_VERSION={version}",  # Debian's real version, not the tag's
            "ENV PGDATA=/var/lib/postgresql/data",
            "VOLUME /var/lib/postgresql/data",
            "EXPOSE 5432",
            "LABEL lab.standin=true",
            f"LABEL lab.standin.source=\"debootstrap {SUITE} + Debian postgresql-{PG_MAJOR} {version}\"",
            'ENTRYPOINT ["docker-entrypoint.sh"]',
            'CMD ["postgres"]',
        ])
        # SIGINT = postgres "fast" shutdown: `docker stop` does not wait out
        # open client connections (the official image sets this too).
        add_config(tag, ["STOPSIGNAL SIGINT"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return f"debootstrap + Debian postgresql-{PG_MAJOR} {version}"


def _pg_client(container: str, tool: str, port: int) -> list[str]:
    """Run a client tool from the host if it has one, else inside the container."""
    if shutil.which(tool):
        return [tool, "-h", "127.0.0.1", "-p", str(port)]
    return ["docker", "exec", "-e", "PGPASSWORD", container, tool, "-h", "127.0.0.1", "-p", "5432"]


def verify_postgres(tag: str, network: bool = True, port: int = PG_VERIFY_PORT) -> None:
    """Start it as the lab does, with init scripts; query it over TCP."""
    name = f"lab-standin-verify-{os.getpid()}"
    with tempfile.TemporaryDirectory() as initdir:
        os.chmod(initdir, 0o755)
        Path(initdir, "01-schema.sql").write_text("CREATE TABLE probe (id int primary key);\n")
        Path(initdir, "02-data.sh").write_text(
            'psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" '
            '-c "INSERT INTO probe VALUES (41), (1)"\n')
        run(["docker", "run", "-d", "--name", name, "-e", "POSTGRES_PASSWORD=x",
             "-e", "POSTGRES_USER=lab", "-e", "POSTGRES_DB=labdb",
             "-v", f"{initdir}:/docker-entrypoint-initdb.d:ro",
             "-p", f"127.0.0.1:{port}:5432", tag], capture_output=True, text=True)
        env = {**os.environ, "PGPASSWORD": "x", "PGCONNECT_TIMEOUT": "3"}
        isready = _pg_client(name, "pg_isready", port) + ["-U", "lab", "-d", "labdb"]
        psql = _pg_client(name, "psql", port) + ["-X", "-U", "lab", "-d", "labdb", "-tAc"]
        try:
            # The entrypoint's temporary init server is socket-only, so
            # readiness over TCP means the real server is up.
            deadline = time.monotonic() + 60
            while subprocess.run(isready, capture_output=True).returncode != 0:
                if time.monotonic() > deadline:
                    logs = capture(["docker", "logs", "--tail", "30", name], stderr=subprocess.STDOUT)
                    raise StandinError(f"{tag}: postgres not ready after 60 s; logs:\n{logs}")
                time.sleep(0.5)
            total = capture(psql + ["SELECT sum(id) FROM probe"], env=env)
            if total != "42":
                raise StandinError(f"{tag}: init scripts / query gave {total!r}, expected '42'")
            ver = capture(psql + ["SHOW server_version"], env=env)
            # Host connections must need the password (scram-sha-256, not trust).
            bad = subprocess.run(psql + ["SELECT 1"], env={**env, "PGPASSWORD": "wrong"},
                                 capture_output=True, text=True)
            if shutil.which("psql") and bad.returncode == 0:
                raise StandinError(f"{tag}: a wrong password was accepted over TCP")
        finally:
            subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True)
    log(f"verified {tag}: pg_isready + psql from the host on 127.0.0.1:{port}, init scripts ran, "
        f"server {ver}, wrong password refused")


# --- entry points ------------------------------------------------------------------

BUILDERS = [
    # (tag pattern, builder, verifier)
    (re.compile(r"python:3\.12(\.\d+)?-slim-bookworm"), build_python, verify_python),
    (re.compile(r"postgres:15(\.\d+)?-bookworm"), build_postgres, verify_postgres),
]


def _builder_for(tag: str):
    for pattern, build, verify in BUILDERS:
        if pattern.fullmatch(tag):
            return build, verify
    supported = ", ".join(p.pattern for p, _, _ in BUILDERS)
    raise StandinError(f"no stand-in recipe for {tag!r} (supported: {supported})")


def ensure_image(tag: str, force: bool = False, verify: bool = True, network: bool = True) -> bool:
    """Make `tag` available locally; build a stand-in only if it is missing
    (or force=True). Returns True if a stand-in was built."""
    build, check = _builder_for(tag)
    with cache_lock():
        old_id = None
        if image_exists(tag):
            if not force:
                return False
            if not is_standin(tag):
                raise StandinError(f"{tag} exists and is not a stand-in; refusing to replace it")
            old_id = capture(["docker", "image", "inspect", "--format", "{{.Id}}", tag])
        t0 = time.monotonic()
        what = build(tag)
        if old_id:  # now untagged; drop it (and its untagged parent) to free the space
            subprocess.run(["docker", "image", "rm", old_id], capture_output=True)
        banner = (f"STAND-IN: built {tag} from {what} (no registry here); "
                  "on a real machine the official image is pulled instead")
        print("=" * len(banner) + "\n" + banner + "\n" + "=" * len(banner), flush=True)
        log(f"{tag} built in {time.monotonic() - t0:.0f} s")
        if verify:
            try:
                check(tag, network=network)
            except Exception:
                # Never leave a broken stand-in under an official tag.
                subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
                log(f"verification failed: removed {tag}")
                raise
        return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("images", nargs="+", metavar="IMAGE")
    ap.add_argument("--force", action="store_true", help="rebuild even if the tag exists (replaces it!)")
    ap.add_argument("--verify", action="store_true", help="also verify tags that already exist")
    ap.add_argument("--no-verify", action="store_true", help="skip verifying freshly built stand-ins")
    ap.add_argument("--offline", action="store_true", help="skip the pip-from-PyPI check")
    args = ap.parse_args(argv)
    if shutil.which("docker") is None or subprocess.run(["docker", "info"], capture_output=True).returncode:
        print("standins: ERROR: no Docker engine answering (run .ci/docker-setup.sh as root)", file=sys.stderr)
        return 1
    try:
        for tag in args.images:
            if ensure_image(tag, force=args.force, verify=not args.no_verify, network=not args.offline):
                continue
            kind = "stand-in" if is_standin(tag) else "image"
            log(f"{tag}: {kind} already present, nothing built")
            if args.verify:
                _, check = _builder_for(tag)
                check(tag, network=not args.offline)
    except StandinError as exc:
        print(f"standins: ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
