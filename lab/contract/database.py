"""The lab's PostgreSQL database: create, seed, reset, describe (psycopg 3).

The server is named by env DATABASE_URL (default: the PostgreSQL on
127.0.0.1:5432); the lab works in a database of its own on that server
(lab_bench for runs, lab_test for the tests) and leaves every other one alone.
The schema and seed are lab/contract/schema.sql, the one file the docker engine also
mounts as an initdb script.
"""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from ..errors import LabError

SCHEMA = Path(__file__).resolve().parent / "schema.sql"
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DATABASE = "lab_bench"
CONNECT_TIMEOUT = 3  # seconds; a server that takes longer is treated as down
# The server settings that can change a database number, for the manifest.
SETTINGS = ("max_connections", "shared_buffers", "effective_cache_size", "work_mem", "synchronous_commit", "fsync")


def server_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def redact(url: str) -> str:
    """The URL without its password, for logs and the manifest."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def one_line(problem: Exception) -> str:
    return " ".join(str(problem).split())


def connect(url: str, **kwargs) -> psycopg.Connection:
    try:
        return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT, **kwargs)
    except psycopg.Error as problem:
        raise LabError(f"cannot connect to PostgreSQL at {redact(url)}: {one_line(problem)}") from None


def create(server: str, name: str, fresh: bool = False) -> str:
    """Make sure database `name` exists on the server (dropped first if fresh); returns its URL."""
    with connect(server, autocommit=True) as conn:
        if fresh:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(sql.Identifier(name)))
    return with_database(server, name)


def seed(url: str) -> None:
    """Create the tables if missing and put every row in its seed state (schema.sql is idempotent)."""
    try:
        with connect(url) as conn:
            conn.execute(SCHEMA.read_text())
    except psycopg.Error as problem:
        raise LabError(f"{SCHEMA} failed on {redact(url)}: {one_line(problem)}") from None


# The seed is an upsert of every row: running it again is the reset.
reset = seed


def prepare(server: str | None = None, name: str = BENCH_DATABASE, fresh: bool = False) -> str:
    """Create and seed the lab's database on the server; returns the URL the services get."""
    url = create(server or server_url(), name, fresh=fresh)
    seed(url)
    return url


def drop(server: str, name: str) -> None:
    with connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def describe(url: str) -> dict:
    """Server version and the settings that matter, for the manifest."""
    with connect(url) as conn:
        facts = {"server_version": conn.execute("SHOW server_version").fetchone()[0]}
        for setting in SETTINGS:
            facts[setting] = conn.execute("SELECT current_setting(%s)", (setting,)).fetchone()[0]
    return facts
