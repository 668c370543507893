"""Django app config of the accounts pages."""
from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Sign-up and the API token page; users and tokens are Django's and DRF's own models."""

    name = "salsaweb.accounts"
    label = "accounts"
    verbose_name = "Accounts"
