"""Production settings for the lab's Django service: no debug, secrets from the environment."""

import os

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
]
ROOT_URLCONF = "labsite.urls"
WSGI_APPLICATION = "labsite.wsgi.application"
DATABASES = {}
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
