"""The open model (fixed arrival rate, latency from the intended send): GET one path of the host.

Not a scenario of the bench's closed-model matrix (those are scenario_*.py): the user class the
web UI offers for a fixed rate (set Rate under Custom parameters; Path defaults to /json), and
the one `make latency` runs. The machinery is locustfiles/_open_model.py.
"""

from _open_model import OpenModelUser, check_status


class OpenGetUser(OpenModelUser):
    def request(self):
        with self.client.get(self.environment.parsed_options.open_path, name="open " + self.environment.parsed_options.open_path, catch_response=True) as response:
            return check_status(response)
