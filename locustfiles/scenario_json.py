"""GET /json: the blog's "simple JSON endpoint" (TechEmpower test type 1, JSON serialization)."""

from locust import task

from _common import LabUser
from _contract import HELLO

DATABASE = False
RESETS_DATABASE = False
# Also measured with wrk, where installed, at the same connection count.
WRK_PATH = "/json"


class JsonUser(LabUser):
    # Not named `json`: that would hide User.json(), which the web UI's class picker calls.
    @task
    def json_endpoint(self):
        self.get_json("/json", {"message": HELLO})
