#!/bin/sh
# The one start command of the bare WSGI baseline: Gunicorn exactly as services/flask/start.sh
# and services/django/start.sh run it (same workers, worker class, logging), serving a raw WSGI callable.
set -eu
cd "$(dirname "$0")"
CPUS="${CPUS:-$(nproc)}"
exec gunicorn app:app \
    --bind "${HOST:-127.0.0.1}:${PORT:-8012}" \
    --workers "${WORKERS:-$((2 * CPUS + 1))}" --worker-class sync \
    --log-level warning
