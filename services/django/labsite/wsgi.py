import os

import limits
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labsite.settings")
application = get_wsgi_application()
# For a server that passes any request head on (Granian: services/django-granian): the contract's
# head limits first. Gunicorn enforces them itself and serves `application`.
limited = limits.wsgi(application)
