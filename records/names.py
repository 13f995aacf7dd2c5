"""The one rule for names that become parts of paths, and the check that a path stays inside its folder.

Stdlib only: the runner and the analysis both use it, and a run read from another machine
(a shared archive) is untrusted input. Every name that ends up in a file or folder name
(framework, scenario, baseline, profile, engine, run id, a file inside a run) must match NAME
in full: lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at
most 64 characters. So no '/', no '..', no leading dot, no space, no newline.

Real names all pass: fastapi, bare-asgi, plaintext, u0016-r1, locust_stats.csv and run ids
`YYYYMMDD-HHMMSS-<profile>-<engine>[-N]` (lab/run/folders.py).
"""

import re
from pathlib import Path

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
NAME_RULE = "lower-case letters, digits, '.', '_' or '-', starting with a letter or digit, at most 64 characters"


class UnsafeName(ValueError):
    """A name that could not safely be part of a path; the message names where it came from."""


class OutsidePath(ValueError):
    """A path that leads outside the folder it must stay in."""


def check_name(kind: str, value, where) -> str:
    """value if it is a plain name (NAME, in full); otherwise UnsafeName naming the file and field."""
    if isinstance(value, str) and NAME.fullmatch(value):
        return value
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    raise UnsafeName(f"{where}: {kind} {shown} is not a valid name ({NAME_RULE})")


def inside(base, path) -> Path:
    """path resolved (links followed), if it is base itself or under it; otherwise OutsidePath."""
    root, resolved = Path(base).resolve(), Path(path).resolve()
    if not resolved.is_relative_to(root):
        raise OutsidePath(f"{path}: leads outside {base} (to {resolved})")
    return resolved
