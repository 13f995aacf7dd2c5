#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Uvicorn exactly as services/fastapi/start.sh runs it (Litestar and FastAPI, each over bare-asgi,
# differ only in the app): one worker process per core of the CPU budget, as the Uvicorn
# deployment docs recommend. No access log; keep-alive as Uvicorn does by default (5 s).
set -eu
cd "$(dirname "$0")"
export PYTHONPATH="$(cd ../common && pwd)"
CPUS="${CPUS:-$(nproc)}"
# Uvicorn's formula (one per core) for a budget of CPUS cores, a fraction rounded up:
# services/common/workers.py, the one place every start.sh takes it from.
WORKERS="${WORKERS:-$(python3 ../common/workers.py uvicorn "$CPUS")}"
exec uvicorn app:app \
    --host "${HOST:-127.0.0.1}" --port "${PORT:?PORT: the port in service.toml beside this file}" \
    --workers "$WORKERS" \
    --no-access-log --log-level warning
