#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Hypercorn, the ASGI server Quart's docs recommend, one worker process per core, with
# uvloop as Uvicorn uses. No access log (Hypercorn's default); keep-alive (5 s).
set -eu
cd "$(dirname "$0")"
export PYTHONPATH="$(cd ../common && pwd)"
CPUS="${CPUS:-$(nproc)}"
# Worker counts for a budget of CPUS cores, a fraction rounded up: services/common/workers.py.
WORKERS="${WORKERS:-$(python3 ../common/workers.py hypercorn "$CPUS")}"  # one worker process per core, as Uvicorn
exec hypercorn app:app \
    --bind "${HOST:-127.0.0.1}:${PORT:?PORT: the port in service.toml beside this file}" \
    --workers "$WORKERS" --worker-class uvloop \
    --log-level warning
