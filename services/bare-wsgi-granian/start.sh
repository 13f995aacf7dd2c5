#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Granian's WSGI exactly as services/flask-granian/start.sh runs it, serving a raw WSGI callable.
set -eu
# The app's code is services/bare-wsgi/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../bare-wsgi"
CPUS="${CPUS:-$(nproc)}"
# Worker counts for a budget of CPUS cores, a fraction rounded up: services/common/workers.py.
WORKERS="${WORKERS:-$(python3 ../common/workers.py granian "$CPUS")}"  # Granian's (one worker process per core)
THREADS="${THREADS:-$(python3 ../common/workers.py threads "$CPUS")}"  # Gunicorn's threads per gthread worker (4 x cores, the top of its 2-4 x cores)
exec granian app:app --interface wsgi \
    --host "${HOST:-127.0.0.1}" --port "${PORT:?PORT: the port in service.toml beside this file}" \
    --workers "$WORKERS" --blocking-threads "$THREADS" \
    --log-level warning
