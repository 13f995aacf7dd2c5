"""GET /cpu?n=10000: a pure-Python prime sieve per request; CPU-bound, holds the GIL."""

from locust import task

from _common import LabUser

DATABASE = False
RESETS_DATABASE = False


class CpuUser(LabUser):
    @task
    def cpu(self):
        self.get_json("/cpu?n=10000", {"n": 10000, "primes": 1229})
