#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Granian, the Rust HTTP server, one worker process per core, uvloop as Uvicorn uses. No access log
# (Granian's default).
set -eu
# The app's code is services/fastapi/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../fastapi"
export PYTHONPATH="$(cd ../common && pwd)"
CPUS="${CPUS:-$(nproc)}"
# Worker counts for a budget of CPUS cores, a fraction rounded up: services/common/workers.py.
WORKERS="${WORKERS:-$(python3 ../common/workers.py granian "$CPUS")}"  # Granian's (one worker process per core)
exec granian app:app --interface asgi \
    --host "${HOST:-127.0.0.1}" --port "${PORT:?PORT: the port in service.toml beside this file}" \
    --workers "$WORKERS" --loop uvloop --no-ws \
    --log-level warning
