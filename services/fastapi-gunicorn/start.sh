#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Gunicorn supervising Uvicorn workers (the uvicorn-worker package, Uvicorn's own worker class
# moved out of Uvicorn), one per core as for Uvicorn alone. No access log.
set -eu
# The app's code is services/fastapi/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../fastapi"
export PYTHONPATH="$(cd ../common && pwd)"
CPUS="${CPUS:-$(nproc)}"
# Worker counts for a budget of CPUS cores, a fraction rounded up: services/common/workers.py.
WORKERS="${WORKERS:-$(python3 ../common/workers.py uvicorn "$CPUS")}"  # Uvicorn's formula (one per core)
exec gunicorn app:app \
    --bind "${HOST:-127.0.0.1}:${PORT:?PORT: the port in service.toml beside this file}" \
    --workers "$WORKERS" --worker-class uvicorn_worker.UvicornWorker \
    --log-level warning
