"""Settings for pytest: fast password hashing and in-memory mail, on whatever DATABASE_URL names."""

from salsaweb.env import env_bool

from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

# A file, not SQLite's in-memory default, so that tests can start real processes that
# share the test database (WAL mode, as in production).
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    import os
    import tempfile

    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"salsaweb-test-{os.getpid()}.sqlite3"),
    }

# Unit tests run tasks in the test process; worker processes that tests start turn this off.
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)
CELERY_TASK_EAGER_PROPAGATES = True
