#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Granian's WSGI: one worker process per core, each running the app on a pool of blocking
# threads, as many as Gunicorn gthread's threads (Granian's default, 512, would let Django open
# a connection per thread). Granian passes any request head on: app:limited adds the contract's.
set -eu
# The app's code is services/flask/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../flask"
export PYTHONPATH="$(cd ../common && pwd)"
CPUS="${CPUS:-$(nproc)}"
# Worker counts for a budget of CPUS cores, a fraction rounded up: services/common/workers.py.
WORKERS="${WORKERS:-$(python3 ../common/workers.py granian "$CPUS")}"  # Granian's (one worker process per core)
THREADS="${THREADS:-$(python3 ../common/workers.py threads "$CPUS")}"  # Gunicorn's threads per gthread worker (4 x cores, the top of its 2-4 x cores)
export THREADS  # the app keeps a database connection per thread
exec granian app:limited --interface wsgi \
    --host "${HOST:-127.0.0.1}" --port "${PORT:?PORT: the port in service.toml beside this file}" \
    --workers "$WORKERS" --blocking-threads "$THREADS" \
    --log-level warning
