"""Production settings for the lab's Django service: no debug, secrets from the environment."""

import os
from urllib.parse import unquote, urlsplit

import contract

# Django refuses to run with DEBUG off and no key; the start command supplies one.
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DEBUG = False
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],django").split(",")

INSTALLED_APPS = ["bench"]
# The middleware a JSON API typically keeps from startproject; no sessions, auth or CSRF.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "bench.middleware.MethodNotAllowedMiddleware",
    "bench.middleware.DatabaseDownMiddleware",
]
ROOT_URLCONF = "labsite.urls"
WSGI_APPLICATION = "labsite.wsgi.application"
# /fortunes: the template shared with the other services (autoescaping is on, as always in Django).
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "DIRS": [contract.TEMPLATES]}]


def database_from_url(url: str) -> dict:
    """DATABASE_URL (postgresql://user:password@host:port/name) as a Django database on psycopg 3."""
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        # Persistent: each Gunicorn sync worker keeps its one connection across requests.
        "CONN_MAX_AGE": None,
        "OPTIONS": {"connect_timeout": contract.DB_CONNECT_TIMEOUT},
    }


# Without DATABASE_URL the service still serves its non-database endpoints; the others answer 503.
DATABASES = {"default": database_from_url(contract.database_url())} if contract.database_url() else {}
# A Gunicorn sync worker serves one request at a time: one connection (persistent, above). Django
# keeps one per thread, so a threaded server (gthread, Granian: their start.sh) says how many: THREADS.
DB_POOL_SIZE = int(os.environ.get("THREADS") or 1)
USE_TZ = True
DATA_UPLOAD_MAX_MEMORY_SIZE = contract.MAX_BODY_BYTES
REST_FRAMEWORK = {"UNAUTHENTICATED_USER": None}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    # Django logs every 4xx as a warning: that is an access log, which the lab keeps off.
    "loggers": {"django.request": {"level": "ERROR"}},
}
