"""Writing and reading a run's JSON files: atomic writes, capped reads.

A write goes to a temporary file and is renamed over the target, so an interrupted run never
leaves half a file. A read takes at most MAX_RECORD_BYTES, whatever the file claims: a shared
run is untrusted input.
"""

import json
import os
from pathlib import Path

# A record bigger than this is not one the lab wrote: a manifest is tens of KB (mostly pip
# freeze lists), a step.json a few KB.
MAX_RECORD_BYTES = 4 * 2**20


class RecordError(Exception):
    """A record that cannot be read; the message names the file and the problem."""


def write_json(path: Path, data: dict) -> None:
    """Write via a temporary file and rename, so an interrupted write never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_RECORD_BYTES + 1)
        if len(raw) > MAX_RECORD_BYTES:
            raise RecordError(f"{path}: {path.stat().st_size:,} bytes, over the {MAX_RECORD_BYTES >> 20} MiB cap for a JSON file of a run")
        data = json.loads(raw.decode())
    except FileNotFoundError:
        raise RecordError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as problem:  # ValueError: bad JSON, too many digits
        raise RecordError(f"{path}: not readable JSON ({str(problem)[:200]})") from None
    if not isinstance(data, dict):
        raise RecordError(f"{path}: expected a JSON object")
    return data
