"""POST /validate: parse and validate a nested JSON document, answer the normalised one.

Exercises each framework's idiomatic validation: Pydantic (FastAPI),
marshmallow (Flask), DRF serializers (Django).
"""

from locust import task

from _common import LabUser
from _contract import NORMALISED_PERSON, VALID_PERSON

DATABASE = False
RESETS_DATABASE = False


class ValidateUser(LabUser):
    @task
    def validate(self):
        with self.client.post("/validate", json=VALID_PERSON, catch_response=True) as response:
            self.check(response, json_body=NORMALISED_PERSON)
