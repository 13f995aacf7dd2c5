"""Where Locust and the targets listen: settings from the environment, read in one place.

    LOCUST_WORKERS        workers the engine starts (default: one per Locust core)
    LOCUST_EXTRA_WORKERS  workers that join from other hosts; each run waits for them (default 0)
    LOCUST_WEB_PORT       the master's web UI and API (default 8089, on 127.0.0.1)
    LOCUST_MASTER_BIND    the address workers connect to (default 127.0.0.1; another host's
                          workers need an address of this machine that they can reach)
    LOCUST_MASTER_PORT    the port workers connect to (default 5557)
    LAB_TARGET_HOST       local engine: the address the servers listen on and Locust loads
                          (default 127.0.0.1; workers on other hosts need one they can reach)
    LOCUST_CONNECT_TIMEOUT seconds the master and its workers get to be ready (default 60)
"""

import ipaddress
import os
from dataclasses import dataclass

from .errors import LabError


@dataclass(frozen=True)
class GeneratorSettings:
    workers: int | None = None
    extra_workers: int = 0
    web_host: str = "127.0.0.1"
    web_port: int = 8089
    master_bind: str = "127.0.0.1"
    master_port: int = 5557
    target_host: str = "127.0.0.1"
    connect_timeout: float = 60


def _whole(env: dict, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise LabError(f"{name}={raw!r}: expected a whole number from {low} to {high}")
    return int(raw)


def _address(env: dict, name: str, default: str) -> str:
    raw = env.get(name, "").strip() or default
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        raise LabError(f"{name}={raw!r}: expected an IP address of this machine, e.g. 127.0.0.1") from None
    return raw


def from_env(env: dict | None = None) -> GeneratorSettings:
    env = os.environ if env is None else env
    return GeneratorSettings(
        workers=_whole(env, "LOCUST_WORKERS", None, 1, 256),
        extra_workers=_whole(env, "LOCUST_EXTRA_WORKERS", 0, 0, 256),
        web_port=_whole(env, "LOCUST_WEB_PORT", 8089, 1, 65535),
        master_bind=_address(env, "LOCUST_MASTER_BIND", "127.0.0.1"),
        master_port=_whole(env, "LOCUST_MASTER_PORT", 5557, 1, 65535),
        target_host=_address(env, "LAB_TARGET_HOST", "127.0.0.1"),
        connect_timeout=_whole(env, "LOCUST_CONNECT_TIMEOUT", 60, 1, 3600),
    )
