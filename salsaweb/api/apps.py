"""Django app config of the REST API."""
from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API app: views and serializers; no models, one migration (the database cache's table)."""

    name = "salsaweb.api"
    label = "api"
    verbose_name = "REST API"
