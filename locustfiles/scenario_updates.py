"""GET /updates?queries=20: read twenty random rows, change each, write them back (TechEmpower test type 5).

Writes to the database, so the runner restores the seed data before each step.
"""

from locust import task

from _common import LabUser
from _contract import worlds_problem

DATABASE = True
RESETS_DATABASE = True
QUERIES = 20


class UpdatesUser(LabUser):
    @task
    def updates(self):
        self.get_json(f"/updates?queries={QUERIES}", lambda rows: worlds_problem(rows, QUERIES), name="/updates")
