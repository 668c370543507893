"""Django app config of the REST API."""
from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API app: views and serializers only, no models of its own."""

    name = "salsaweb.api"
    label = "api"
    verbose_name = "REST API"
