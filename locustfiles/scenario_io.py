"""GET /io?ms=50: waits 50 ms as if on a downstream call; tests the blog's I/O-bound claim.

At U users the ideal is U / 0.05 req/s; a server reaches it only if it can keep
U requests waiting at once (async tasks, or enough threads/processes).
"""

from locust import task

from _common import LabUser

DATABASE = False
RESETS_DATABASE = False
WAIT_MS = 50


class IoUser(LabUser):
    @task
    def io(self):
        self.get_json(f"/io?ms={WAIT_MS}", {"waited_ms": WAIT_MS})
