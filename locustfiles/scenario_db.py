"""GET /db: one random row of world (TechEmpower test type 2, single database query).

Every framework's own database stack: Django's ORM, Flask-SQLAlchemy on psycopg 3,
SQLAlchemy's asyncio extension on asyncpg for FastAPI.
"""

from locust import task

from _common import LabUser
from _contract import world_problem

DATABASE = True
RESETS_DATABASE = False


class DbUser(LabUser):
    @task
    def db(self):
        self.get_json("/db", world_problem)
