#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Uvicorn, one worker process per core of the CPU budget, as the FastAPI and Uvicorn
# deployment docs recommend. No access log; keep-alive as Uvicorn does by default (5 s).
set -eu
cd "$(dirname "$0")"
export PYTHONPATH="$(cd ../common && pwd)"
CPUS="${CPUS:-$(nproc)}"
exec uvicorn app:app \
    --host "${HOST:-127.0.0.1}" --port "${PORT:-8001}" \
    --workers "${WORKERS:-$CPUS}" \
    --no-access-log --log-level warning
