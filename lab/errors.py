"""The lab's one error: a problem the person running it can fix, printed as one line, no traceback."""


class LabError(Exception):
    """A problem the person running the lab can fix; printed as one line, no traceback."""
