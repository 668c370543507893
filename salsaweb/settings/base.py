"""Settings shared by every environment; each value comes from the environment with a safe default."""

from pathlib import Path

from salsaweb.env import cache_config, database_config, env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

# A development-only key; production.py refuses to start without DJANGO_SECRET_KEY.
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "django-insecure-salsaweb-local-development-only")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's assets, served locally
    "runtime.db",
    "salsaweb.regression",
    "salsaweb.api",
    "salsaweb.dashboard",
    "salsaweb.accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "salsaweb.urls"
WSGI_APPLICATION = "salsaweb.wsgi.application"
ASGI_APPLICATION = "salsaweb.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "salsaweb.accounts.context_processors.signup",
            ],
        },
    },
]

# Any URL dj-database-url understands: sqlite:///relative.db, sqlite:////abs/path.db,
# postgres://user:pass@host:5432/name. The default needs no server.
DATABASES = {
    "default": database_config(
        env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("CONN_MAX_AGE", 0),
    ),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds the rate limits' counts, so it must be shared by every web process of a
# deployment: Redis in production (redis://host:6379/1), by default a table in the database
# (created by migrate: salsaweb/api/migrations), or a folder (file:///abs/dir) on one machine.

# Celery (salsaweb/celery.py reads every CELERY_* setting).  Production: Redis, e.g.
# CELERY_BROKER_URL=redis://host:6379/0.  The default needs no server: messages are files
# under CELERY_BROKER_FOLDER (salsaweb/broker.py), shared by the processes of one machine.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT = "salsaweb.broker:Transport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "folder": env_str("CELERY_BROKER_FOLDER", str(BASE_DIR / "var" / "broker")),
        "polling_interval": 0.1,
    }
else:
    # Redis hands an unacknowledged task to another worker after this long; the lease in
    # the database (TRAINING_LEASE_SECONDS) is what actually keeps a training to one worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "salsaweb")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True  # results live in the database (TrainingState, BatchRun), not a result backend
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged when it ends, so a lost worker's task is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # a worker holds one task per process: the others stay free for idle workers
# Workers keep their database connections: Celery's Django fixup closes them only every
# CELERY_DB_REUSE_MAX tasks, and before each task those that broke or are older than
# WORKER_CONN_MAX_AGE seconds are closed (salsaweb/celery.py).
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000)
WORKER_CONN_MAX_AGE = env_int("WORKER_CONN_MAX_AGE", 600)

# Background training (salsaweb/regression/scheduling.py requests it, leases.py runs it).
TRAINING_CHECKPOINT_SECONDS = env_float("TRAINING_CHECKPOINT_SECONDS", 1.0)  # store iterations at least this often
TRAINING_HEARTBEAT_SECONDS = env_float("TRAINING_HEARTBEAT_SECONDS", 0.5)  # renew the lease, write progress
# Takeover of a dead worker's training within LEASE + SWEEP seconds (about 6 s); the lease
# thread renews every HEARTBEAT, so a lease of 10 heartbeats rides out short database stalls.
TRAINING_LEASE_SECONDS = env_float("TRAINING_LEASE_SECONDS", 5.0)  # a lease not renewed this long has run out
TRAINING_STALL_SECONDS = env_float("TRAINING_STALL_SECONDS", 600.0)  # no iteration this long: stop renewing
TRAINING_MAX_ATTEMPTS = env_int("TRAINING_MAX_ATTEMPTS", 3)  # starts of one piece of work, crashes included
TRAINING_SWEEP_SECONDS = env_float("TRAINING_SWEEP_SECONDS", 1.0)  # how often each worker sweeps
TRAINING_QUEUE_TIMEOUT_SECONDS = env_float("TRAINING_QUEUE_TIMEOUT_SECONDS", 20.0)  # queued this long: send again

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Full timestamps (2026-12-01 08:00:12) instead of the locale's "Dec. 1, 2026, 8 a.m." (salsaweb/formats/en).
FORMAT_MODULE_PATH = ["salsaweb.formats"]

STATIC_URL = "static/"
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "salsaweb.dashboard.staticfiles.PlotlyFinder",  # vendor/plotly.min.js from the plotly package
]

# Whether visitors may create their own accounts at /accounts/signup/ (local.py turns it on).
SALSAWEB_SIGNUP = env_bool("SALSAWEB_SIGNUP", False)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:datasets"
LOGOUT_REDIRECT_URL = "login"

# Functions that tell the memo-store admin which dataset owns a runtime namespace (runtime/db/admin.py).
MEMO_STORE_NAMESPACE_OWNERS = ["salsaweb.regression.admin.namespace_datasets"]

# Largest CSV file or JSON body the API accepts; larger ones are answered with 413.  Django's
# own limit on a body read into memory (2.5 MiB by default) is the same, so it neither refuses
# smaller JSON bodies first nor reads larger ones (the API answers its refusal with the 413).
SALSAWEB_MAX_UPLOAD_BYTES = env_int("SALSAWEB_MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = SALSAWEB_MAX_UPLOAD_BYTES

# Sign-in limits (salsaweb/services.py): after this many failed sign-ins for one username, or
# from one address, within a window, further attempts get 429 until the window ends.
SALSAWEB_LOGIN_FAILURES_PER_USERNAME = env_int("SALSAWEB_LOGIN_FAILURES_PER_USERNAME", 10)
SALSAWEB_LOGIN_FAILURES_PER_ADDRESS = env_int("SALSAWEB_LOGIN_FAILURES_PER_ADDRESS", 30)
SALSAWEB_LOGIN_WINDOW_SECONDS = env_int("SALSAWEB_LOGIN_WINDOW_SECONDS", 300)

# The cache holds the rate limits' and sign-in limits' counts, so it must be shared by every
# web process of a deployment: Redis in production (redis://host:6379/1), by default a table in
# the database (created by migrate: salsaweb/api/migrations), or a folder (file:///abs/dir).
# Entries stored without a lifetime live at least a sign-in window.
CACHES = {
    "default": cache_config(env_str("SALSAWEB_CACHE_URL", "db://salsaweb_cache"),
                            key_prefix=env_str("SALSAWEB_CACHE_KEY_PREFIX", "salsaweb"),
                            timeout=max(300, SALSAWEB_LOGIN_WINDOW_SECONDS)),
}
# Every sign-in (API token, dashboard, admin) goes through the limits above.
AUTHENTICATION_BACKENDS = ["salsaweb.backends.LimitedModelBackend"]

# Every Django REST framework setting of the project (salsaweb/api).
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",  # first, so anonymous requests get 401
        "rest_framework.authentication.SessionAuthentication",  # the dashboard's pages (CSRF-checked)
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["salsaweb.api.parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "salsaweb.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_THROTTLE_CLASSES": ["salsaweb.api.throttling.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"writes": env_str("SALSAWEB_WRITE_RATE", "120/min")},
    # A client's address is REMOTE_ADDR; behind N trusted proxies, the Nth X-Forwarded-For entry
    # from the right (the address the outermost trusted proxy saw). 0 ignores the header.
    "NUM_PROXIES": env_int("SALSAWEB_TRUSTED_PROXIES", 0),
    "EXCEPTION_HANDLER": "salsaweb.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Salsaweb API",
    "DESCRIPTION": (
        "Incremental linear regression over uploaded CSV batches. Authenticate with "
        "`POST /api/auth/token/` and send `Authorization: Token <token>`. Errors are JSON objects "
        "with a stable `code`, a human `detail` and the keys their code adds; every code is listed below, "
        "and each operation's error responses name the codes it can answer. Unknown query parameters are "
        "refused (400 `invalid`, naming the parameter)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1}},
    # One name for the mode choices, whether a field holds one mode or a list of them.
    "ENUM_NAME_OVERRIDES": {"ModeEnum": "salsaweb.regression.modes.Mode"},
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "salsaweb.api.schema.describe_errors"],
}
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "{asctime} {levelname} {name}: {message}", "style": "{"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
}
