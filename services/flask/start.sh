#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Gunicorn sync workers, (2 x cores) + 1 of them as Gunicorn's docs recommend. No access log
# (Gunicorn's default); sync workers close each connection (no keep-alive), as Gunicorn does.
set -eu
cd "$(dirname "$0")"
export PYTHONPATH="$(cd ../common && pwd)"
CPUS="${CPUS:-$(nproc)}"
exec gunicorn app:app \
    --bind "${HOST:-127.0.0.1}:${PORT:-8002}" \
    --workers "${WORKERS:-$((2 * CPUS + 1))}" --worker-class sync \
    --log-level warning
