"""GET /plaintext: the smallest possible response (TechEmpower test type 6, without pipelining)."""

from locust import task

from _common import LabUser
from _contract import HELLO

DATABASE = False
RESETS_DATABASE = False
# Also measured with wrk, where installed, at the same connection count.
WRK_PATH = "/plaintext"


class PlaintextUser(LabUser):
    @task
    def plaintext(self):
        with self.client.get("/plaintext", catch_response=True) as response:
            self.check(response, content_type="text/plain", body=HELLO)
