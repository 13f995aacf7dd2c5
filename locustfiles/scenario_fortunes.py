"""GET /fortunes: all fortune rows plus one, sorted, HTML-escaped in a template (TechEmpower test type 4).

A query, a sort and server-side templating: Jinja2 for FastAPI and Flask, Django's own engine.
"""

from locust import task

from _common import LabUser
from _contract import fortunes_problem

DATABASE = True
RESETS_DATABASE = False


class FortunesUser(LabUser):
    @task
    def fortunes(self):
        with self.client.get("/fortunes", catch_response=True) as response:
            self.check(response, content_type="text/html", body=fortunes_problem)
