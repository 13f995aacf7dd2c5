#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Gunicorn exactly as services/flask/start.sh runs it (the ladder bare-wsgi -> falcon -> flask -> django
# differs only in the app): sync workers, (2 x cores) + 1 of them as Gunicorn's docs recommend. No access log
# (Gunicorn's default); sync workers close each connection (no keep-alive), as Gunicorn does.
set -eu
cd "$(dirname "$0")"
export PYTHONPATH="$(cd ../common && pwd)"
CPUS="${CPUS:-$(nproc)}"
# Gunicorn's formula (2 x cores + 1) for a budget of CPUS cores, a fraction rounded up:
# services/common/workers.py, the one place every start.sh takes it from.
WORKERS="${WORKERS:-$(python3 ../common/workers.py gunicorn "$CPUS")}"
# The request-head limits of services/common/contract.py (MAX_REQUEST_LINE_BYTES, MAX_HEADER_FIELDS,
# MAX_HEADER_FIELD_BYTES; Gunicorn's defaults), stated so that they are seen and kept.
exec gunicorn app:app \
    --bind "${HOST:-127.0.0.1}:${PORT:?PORT: the port in service.toml beside this file}" \
    --workers "$WORKERS" --worker-class sync \
    --limit-request-line 4094 --limit-request-fields 100 --limit-request-field_size 8190 \
    --log-level warning
