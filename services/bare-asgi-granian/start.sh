#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Granian exactly as services/fastapi-granian/start.sh runs it, serving a raw ASGI callable.
set -eu
# The app's code is services/bare-asgi/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../bare-asgi"
CPUS="${CPUS:-$(nproc)}"
# Worker counts for a budget of CPUS cores, a fraction rounded up: services/common/workers.py.
WORKERS="${WORKERS:-$(python3 ../common/workers.py granian "$CPUS")}"  # Granian's (one worker process per core)
exec granian app:app --interface asgi \
    --host "${HOST:-127.0.0.1}" --port "${PORT:?PORT: the port in service.toml beside this file}" \
    --workers "$WORKERS" --loop uvloop --no-ws \
    --log-level warning
