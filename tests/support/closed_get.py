"""The lab's closed model, as its scenarios run it (locustfiles/_common.py's LabUser): each user
sends its next GET / as soon as the last one is answered, no think time. The open-model test
runs it against a stalling server to show what it misses."""

from locust import FastHttpUser, constant, task


class ClosedGetUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("/")
