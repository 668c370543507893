"""Production settings: DEBUG off, secret key and hosts from the environment, HTTPS-only cookies and HSTS."""

import os

from django.core.exceptions import ImproperlyConfigured

from salsaweb.env import env_bool, env_int, env_list

from .base import *  # noqa: F403

DEBUG = False

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set for salsaweb.settings.production "
        "(50+ random characters, e.g. from django.core.management.utils.get_random_secret_key())."
    )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [])

# Persistent connections (checked before reuse): with 0, every request pays for a new one.
DATABASES = {  # a new dict: base's stays as it is for the settings modules sharing it
    **DATABASES,  # noqa: F405
    "default": {
        **DATABASES["default"],  # noqa: F405
        "CONN_MAX_AGE": env_int("CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
    },
}

SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
# Only behind a proxy that sets X-Forwarded-Proto itself, or clients could claim HTTPS.
if env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 60)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)

# Static files (the dashboard's scripts, Plotly's bundle, the admin's and the API docs') are
# served by the application itself through WhiteNoise, compressed and with far-future cache
# headers on hashed names; run `python manage.py collectstatic` when deploying.
MIDDLEWARE = [
    *MIDDLEWARE[:1],  # noqa: F405 (SecurityMiddleware first)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[1:],  # noqa: F405
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
