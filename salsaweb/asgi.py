"""ASGI entry point for deployment; defaults to production settings so a forgotten variable fails safe."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salsaweb.settings.production")

application = get_asgi_application()
