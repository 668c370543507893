"""Development settings, the default for manage.py: DEBUG and sign-up on unless DJANGO_DEBUG or SALSAWEB_SIGNUP say
otherwise."""

from salsaweb.env import env_bool

from .base import *  # noqa: F403

DEBUG = env_bool("DJANGO_DEBUG", True)
SALSAWEB_SIGNUP = env_bool("SALSAWEB_SIGNUP", True)
