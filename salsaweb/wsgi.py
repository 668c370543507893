"""WSGI entry point for deployment; defaults to production settings so a forgotten variable fails safe."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salsaweb.settings.production")

application = get_wsgi_application()
