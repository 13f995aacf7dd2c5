"""What containers used while a step ran, read from their cgroups on this host (or the Engine API)."""

import time

import docker.errors

from ..samplers import Sampler
from ..server_cgroup import Accounting


class ContainerSampler(Sampler):
    """Containers' CPU and memory, summed, and their throttling, from their cgroups on this host
    (exact, and read at once: each sample is timed where it was taken), or from one-shot stats
    calls to the Engine API where the cgroups cannot be read (a remote or rootless engine).

    CPU is the cgroup's cumulative usage; memory is usage less inactive page cache, as
    `docker stats` shows it; throttling is the kernel's count of periods in which the containers
    used up their quota.
    """

    def __init__(self, client, containers: list, interval: float = 0.25, quota: bool = False):
        super().__init__(interval)
        self.client = client
        self.container_ids = [container.id for container in containers]
        pids = [(container.attrs.get("State") or {}).get("Pid") for container in containers]
        found = [Accounting.of(pid) if pid else None for pid in pids]
        self.cgroups = found if found and all(found) else None
        self.quota = quota  # under a CPU quota: its throttling is part of usage()
        self.throttling: list[tuple[float, tuple[int, int, float]]] = []

    def sample(self) -> tuple[float, int] | None:
        return self.from_cgroups() if self.cgroups else self.from_api()

    def from_cgroups(self) -> tuple[float, int] | None:
        cpu, memory, throttled = 0.0, 0, [0, 0, 0.0]
        for cgroup in self.cgroups:
            used = cgroup.usage()
            if used is None:
                return None  # gone
            cpu += used
            memory += cgroup.memory_bytes() or 0
            counts = cgroup.throttling() or (0, 0, 0.0)
            throttled = [a + b for a, b in zip(throttled, counts)]
        self.throttling.append((time.time(), tuple(throttled)))
        return cpu, memory

    def from_api(self) -> tuple[float, int] | None:
        cpu, memory, throttled = 0.0, 0, [0, 0, 0.0]
        for container_id in self.container_ids:
            try:
                stats = self.client.api.stats(container_id, stream=False, one_shot=True)
            except docker.errors.APIError:
                return None  # a container that is gone: no sample rather than a partial one
            cpu_stats = stats.get("cpu_stats") or {}
            cpu_ns = cpu_stats.get("cpu_usage", {}).get("total_usage")
            mem = stats.get("memory_stats") or {}
            if cpu_ns is None or "usage" not in mem:
                return None  # not running (any more)
            detail = mem.get("stats") or {}
            cpu += cpu_ns / 1e9
            memory += mem["usage"] - detail.get("total_inactive_file", detail.get("inactive_file", 0))
            counts = cpu_stats.get("throttling_data") or {}
            throttled = [throttled[0] + counts.get("periods", 0), throttled[1] + counts.get("throttled_periods", 0),
                         throttled[2] + counts.get("throttled_time", 0) / 1e9]  # fmt: skip
        self.throttling.append((time.time(), tuple(throttled)))
        return cpu, memory

    def usage(self, start: float | None = None, end: float | None = None) -> dict:
        found = {**super().usage(start, end), "cpu_source": "cgroup" if self.cgroups else "cgroup (Docker Engine API)"}
        inside = [c for t, c in self.throttling if (start is None or t >= start) and (end is None or t <= end)]
        if not self.quota or len(inside) < 2:
            return found
        (periods0, throttled0, seconds0), (periods1, throttled1, seconds1) = inside[0], inside[-1]
        return {**found, "throttle": {"periods": periods1 - periods0, "throttled_periods": throttled1 - throttled0,
                                      "throttled_s": round(seconds1 - seconds0, 3)}}  # fmt: skip
