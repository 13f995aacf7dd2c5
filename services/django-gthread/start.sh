#!/bin/sh
# The one start command for this service: the container's CMD and the local runner both run it.
# Gunicorn's gthread workers: (2 x cores) + 1 processes, each with a pool of threads, and
# keep-alive (Gunicorn's 2 s). Django keeps a connection per thread: DB_POOL_SIZE = threads.
set -eu
# The app's code is services/django/: run from there, as its own start.sh does.
cd "$(dirname "$0")/../django"
export PYTHONPATH="$(cd ../common && pwd)"
export DJANGO_SETTINGS_MODULE=labsite.settings
# No key given: a throwaway one (the lab uses no sessions or signing).
export DJANGO_SECRET_KEY="${DJANGO_SECRET_KEY:-$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')}"
CPUS="${CPUS:-$(nproc)}"
# Worker counts for a budget of CPUS cores, a fraction rounded up: services/common/workers.py.
WORKERS="${WORKERS:-$(python3 ../common/workers.py gunicorn "$CPUS")}"  # Gunicorn's formula (2 x cores + 1)
THREADS="${THREADS:-$(python3 ../common/workers.py threads "$CPUS")}"  # Gunicorn's threads per gthread worker (4 x cores, the top of its 2-4 x cores)
export THREADS  # the app keeps a database connection per thread
# The request-head limits of services/common/contract.py (MAX_REQUEST_LINE_BYTES, MAX_HEADER_FIELDS,
# MAX_HEADER_FIELD_BYTES; Gunicorn's defaults), stated so that they are seen and kept.
exec gunicorn labsite.wsgi \
    --bind "${HOST:-127.0.0.1}:${PORT:?PORT: the port in service.toml beside this file}" \
    --workers "$WORKERS" --worker-class gthread --threads "$THREADS" \
    --limit-request-line 4094 --limit-request-fields 100 --limit-request-field_size 8190 \
    --log-level warning
