"""GET /queries?queries=20: twenty random world rows, one query each (TechEmpower test type 3).

Twenty round trips to the database per request: where waiting on I/O, not
serialising JSON, sets the pace.
"""

from locust import task

from _common import LabUser
from _contract import worlds_problem

DATABASE = True
RESETS_DATABASE = False
QUERIES = 20


class QueriesUser(LabUser):
    @task
    def queries(self):
        self.get_json(f"/queries?queries={QUERIES}", lambda rows: worlds_problem(rows, QUERIES), name="/queries")
