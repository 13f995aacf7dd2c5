#!/bin/sh
# The one start command of the bare ASGI baseline: Uvicorn exactly as services/fastapi/start.sh
# runs it (same workers, loop, HTTP parser, logging), serving a raw ASGI callable.
set -eu
cd "$(dirname "$0")"
CPUS="${CPUS:-$(nproc)}"
# Uvicorn's formula (one per core) for a budget of CPUS cores, a fraction rounded up:
# services/common/workers.py, the one place every start.sh takes it from.
WORKERS="${WORKERS:-$(python3 ../common/workers.py uvicorn "$CPUS")}"
exec uvicorn app:app \
    --host "${HOST:-127.0.0.1}" --port "${PORT:?PORT: the port in service.toml beside this file}" \
    --workers "$WORKERS" \
    --no-access-log --log-level warning
