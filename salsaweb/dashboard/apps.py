"""Django app config of the dashboard."""
from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Server-rendered pages whose charts poll the REST API."""

    name = "salsaweb.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard"
