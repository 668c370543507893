"""Development settings, the default for manage.py: DEBUG on unless DJANGO_DEBUG says otherwise."""

from salsaweb.env import env_bool

from .base import *  # noqa: F403

DEBUG = env_bool("DJANGO_DEBUG", True)
