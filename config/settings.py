"""Settings for the Genesys Cloud analytics dashboard.

Every value comes from the environment (or an optional `.env` beside manage.py). The defaults run
on a laptop with no configuration: DEBUG on, SQLite, local Redis, and the simulated Genesys org.
Production-only values have no default, so a misconfigured server stops at boot.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from celery import current_task
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from analytics_worker.genesys.regions import DEFAULT_REGION, UnknownRegion, region_hosts

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DATABASE_ENGINES = {
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
    "sqlite": "django.db.backends.sqlite3",
}


def database_from_url(url: str) -> dict[str, Any]:
    """A DATABASES entry from postgres://user:password@host:5432/name?sslmode=require (query
    values become OPTIONS) or sqlite:////absolute/path.sqlite3. Percent-escape a password that
    holds @ : / or %."""
    parts = urlsplit(url)
    engine = DATABASE_ENGINES.get(parts.scheme)
    if engine is None:
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with postgres:// or sqlite://, not {parts.scheme + '://'!r}"
        )
    name = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
    if not name:
        raise ImproperlyConfigured("DATABASE_URL names no database (postgres://host/NAME)")
    # Keep a connection for a minute rather than one per request (opening one costs about 1 ms
    # on SQLite, where Django registers its SQL functions on each), and check it before reuse,
    # so a restarted PostgreSQL costs one failed check, not a failed request.
    reuse = {"CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60), "CONN_HEALTH_CHECKS": True}
    if engine.endswith("sqlite3"):
        return {"ENGINE": engine, "NAME": name, **reuse}
    return {
        "ENGINE": engine,
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
        "OPTIONS": dict(parse_qsl(parts.query)),
        **reuse,
    }


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see .env.example)")
    # Only for a laptop with DEBUG on; production fails above instead.
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"

if not DEBUG and not env_str("ALLOWED_HOSTS"):
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off (see .env.example)")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "analytics_worker",
    "dashboard",
    "genesys_sim",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The database holds only Django's own tables (users, sessions, saved reports); report data lives
# in Redis. SQLite on a laptop; DATABASE_URL (PostgreSQL) in production, where several web and
# worker processes write at once.
if env_str("DATABASE_URL"):
    DATABASES = {"default": database_from_url(env_str("DATABASE_URL"))}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # Opening a connection costs Django about 1 ms (it registers its SQL functions each
            # time); once per request that was a quarter of a cached report's time (bench 1).
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard-index"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# --- HTTPS (production) -------------------------------------------------------------------------
# Production serves HTTPS only, through a TLS-terminating proxy in front of gunicorn. With DEBUG
# off, cookies are HTTPS-only and plain HTTP is redirected unless these say otherwise (trying the
# compose stack on http://localhost needs SECURE_SSL_REDIRECT=false and SECURE_COOKIES=false).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Health checks and metric scrapes come from inside the network, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
# Trust X-Forwarded-Proto only behind a proxy that sets it on every request: otherwise any client
# could claim to be on HTTPS.
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# HSTS is opt-in: a browser that has seen it refuses plain HTTP to the site for that long, so
# turn it on only once HTTPS works (start small, e.g. 3600, then 31536000).
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# The site's own origin(s) when it is behind a proxy, e.g. https://dash.example.com: without them
# Django refuses POSTs (login, refresh) whose Origin it cannot match to the request.
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# --- Redis -------------------------------------------------------------------------------------
# One Redis server, separate DB numbers: cache.clear() or FLUSHDB on the cache must never eat the
# broker's queued tasks.
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", f"{REDIS_URL}/0")
REPORT_CACHE_REDIS_URL = env_str("REPORT_CACHE_REDIS_URL", f"{REDIS_URL}/1")
# The simulator's rate-limit counters, shared by every process that serves it.
GENESYS_SIM_REDIS_URL = env_str("GENESYS_SIM_REDIS_URL", f"{REDIS_URL}/2")

# --- Celery --------------------------------------------------------------------------------------
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Job progress lives in the report cache, so Celery keeps no results of its own.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600, minimum=1)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# With the Redis broker an unacknowledged task (its worker was killed) comes back only after the
# visibility timeout, so keep it just above the hard time limit: longer delays recovery, shorter
# redelivers tasks that are still running.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 660, minimum=1),
    # Look for such orphaned tasks every 5 s (kombu's default is every ~100 s).
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
}

# --- Genesys Cloud / data source --------------------------------------------------------------------
GENESYS_CLIENT_ID = env_str("GENESYS_CLIENT_ID")
GENESYS_CLIENT_SECRET = env_str("GENESYS_CLIENT_SECRET")
# The simulated org is on by default exactly when no real credentials are configured.
GENESYS_SIMULATOR = env_bool("GENESYS_SIMULATOR", not GENESYS_CLIENT_ID)
GENESYS_SIM_CLIENT_ID = env_str("GENESYS_SIM_CLIENT_ID", "sim-client")
GENESYS_SIM_CLIENT_SECRET = env_str("GENESYS_SIM_CLIENT_SECRET", "sim-secret")
# The real org's region, as its domain (mypurecloud.ie, usw2.pure.cloud, ...) or SDK name
# (eu_west_1): it gives the API host api.<domain> and the login host login.<domain>. An explicit
# GENESYS_API_URL (the simulator, a proxy) overrides it.
GENESYS_REGION = env_str("GENESYS_REGION", DEFAULT_REGION)
try:
    _region = region_hosts(GENESYS_REGION)
except UnknownRegion as error:
    raise ImproperlyConfigured(f"GENESYS_REGION: {error}") from None
if not GENESYS_CLIENT_ID and GENESYS_SIMULATOR:
    # No real org: talk to the simulated org that this same site serves under /sim/.
    GENESYS_CLIENT_ID = GENESYS_SIM_CLIENT_ID
    GENESYS_CLIENT_SECRET = GENESYS_SIM_CLIENT_SECRET
    _default_api = f"{SITE_URL.rstrip('/')}/sim"
else:
    _default_api = _region.api_url
GENESYS_API_URL = env_str("GENESYS_API_URL", _default_api).rstrip("/")
# The real login host is the API host with "api." replaced by "login." (every official SDK does
# so): login.<domain> for a region; the simulator serves both under the same /sim/.
GENESYS_LOGIN_URL = env_str(
    "GENESYS_LOGIN_URL", GENESYS_API_URL.replace("//api.", "//login.", 1)
).rstrip("/")
if not GENESYS_CLIENT_ID and not DEBUG:
    raise ImproperlyConfigured(
        "GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET must be set when DEBUG is off "
        "(or set GENESYS_SIMULATOR=true to serve the simulated org)"
    )
# Where report data comes from: "aggregates" (Genesys REST, pre-bucketed: one request per week
# of data, and the only source of offered/answered/abandoned/service level), "details" (REST,
# conversation by conversation) or "graphql" (this project's own GraphQL contract, served by the
# simulated org or a customer's gateway; the only source with views).
ANALYTICS_SOURCE = env_str("ANALYTICS_SOURCE", "aggregates")
if ANALYTICS_SOURCE not in ("aggregates", "details", "graphql"):
    raise ImproperlyConfigured(
        f"ANALYTICS_SOURCE must be aggregates, details or graphql, not {ANALYTICS_SOURCE!r}"
    )
# One budget per OAuth client, shared by every worker (Genesys: 300 requests/minute per token).
GENESYS_RATE_LIMIT_PER_MINUTE = env_int("GENESYS_RATE_LIMIT_PER_MINUTE", 300, minimum=1)
GENESYS_HTTP_TIMEOUT = env_int("GENESYS_HTTP_TIMEOUT", 30, minimum=1)
GENESYS_PAGE_SIZE = env_int("GENESYS_PAGE_SIZE", 500, minimum=1)

# --- The simulated org --------------------------------------------------------------------------
GENESYS_SIM_SEED = env_int("GENESYS_SIM_SEED", 42)
GENESYS_SIM_CONVERSATIONS_PER_DAY = env_int("GENESYS_SIM_CONVERSATIONS_PER_DAY", 2000, minimum=1)
GENESYS_SIM_TOKEN_TTL = env_int("GENESYS_SIM_TOKEN_TTL", 86400, minimum=1)
GENESYS_SIM_RATE_LIMIT_PER_MINUTE = env_int("GENESYS_SIM_RATE_LIMIT_PER_MINUTE", 300, minimum=1)
GENESYS_SIM_MAX_PAGE_SIZE = env_int("GENESYS_SIM_MAX_PAGE_SIZE", 500, minimum=1)
# Faults for the next API requests, queued once in Redis, e.g. "429x3,500x2,slow:2": see
# genesys_sim/README.md. A bad spec stops the server at boot.
GENESYS_SIM_FAULTS = env_str("GENESYS_SIM_FAULTS")

# --- Reports ------------------------------------------------------------------------------------
REPORT_MAX_RANGE_DAYS = env_int("REPORT_MAX_RANGE_DAYS", 31, minimum=1)
# The zone of a report that names none: the default dashboard view and the saved reports beat
# keeps warm. Set it to the contact centre's own zone (an IANA name).
REPORT_DEFAULT_TIME_ZONE = env_str("REPORT_DEFAULT_TIME_ZONE", "UTC")
# A report that touches the last two hours is "live": its newest buckets still change.
# Fresh: served as is. Stale (past fresh, within TTL): served with its age while one refresh runs.
# The tutorial's figures: 30 min for live reports (TTL), 4 h for historical ones (freshness);
# past its TTL a report is a miss.
REPORT_LIVE_FRESH_SECONDS = env_int("REPORT_LIVE_FRESH_SECONDS", 120, minimum=1)
REPORT_LIVE_TTL_SECONDS = env_int("REPORT_LIVE_TTL_SECONDS", 1800, minimum=1)
REPORT_HISTORICAL_FRESH_SECONDS = env_int("REPORT_HISTORICAL_FRESH_SECONDS", 14400, minimum=1)
REPORT_HISTORICAL_TTL_SECONDS = env_int("REPORT_HISTORICAL_TTL_SECONDS", 86400, minimum=1)


class LogFormatter(logging.Formatter):
    """One line per event, plain or JSON; inside a Celery task it names the task, whose id is the
    job id, so every line of a fetch (retries, waits) can be traced to its job."""

    def __init__(self, *, json_lines: bool = False) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self.json_lines = json_lines

    def format(self, record: logging.LogRecord) -> str:
        job = current_task.request.id if current_task and current_task.request else None
        if not self.json_lines:
            line = super().format(record)
            return f"{line} [job={job}]" if job else line
        event: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if job:
            event["job"] = job
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        # A traceback's newlines are escaped inside the JSON string: still one line per event.
        return json.dumps(event, default=str)


LOG_FORMAT = env_str("LOG_FORMAT", "plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"()": LogFormatter, "json_lines": LOG_FORMAT == "json"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
# The worker and beat log through LOGGING above too, in the same format as the web, instead of
# Celery replacing the root logger's handlers with its own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Beat's tasks live above the services they call (analytics_worker/tasks.py is found by
# autodiscovery; this module is not named tasks.py).
CELERY_IMPORTS = ("analytics_worker.periodic_tasks",)
# The whole beat schedule, in one place.
CELERY_BEAT_SCHEDULE = {
    # Every minute: start fetches for saved reports that are due (each has its own interval).
    "refresh-due-reports": {"task": "analytics_worker.refresh_due_reports", "schedule": 60.0},
    # Every minute: free single-flight locks whose job ended or died (ghost locks).
    "reap-locks": {"task": "analytics_worker.reap_locks", "schedule": 60.0},
    # Every 10 minutes: reload the queue names for the filter form (the cache keeps them 10 min).
    "refresh-queues": {"task": "analytics_worker.refresh_queues", "schedule": 540.0},
}

# --- Dashboard ---------------------------------------------------------------------------------
# Every response forbids inline script: data reaches the page's JS only through json_script
# blocks, data-* attributes and the JSON API, so an injected <script> can never run.
DASHBOARD_CONTENT_SECURITY_POLICY = env_str(
    "DASHBOARD_CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)
# Outermost, so even a redirect made by another middleware carries the header.
MIDDLEWARE = ["dashboard.middleware.content_security_policy_middleware", *MIDDLEWARE]
# With Redis down the page fetches the report itself; past this budget it gives up with a 503
# rather than hold a web worker (and the supervisor) for a slow or rate-limited Genesys.
DASHBOARD_INLINE_FETCH_SECONDS = env_int("DASHBOARD_INLINE_FETCH_SECONDS", 10, minimum=1)
# One "Refresh now" per user per report in this many seconds: a double click or an impatient
# supervisor must not spend the shared Genesys rate budget twice.
DASHBOARD_REFRESH_COOLDOWN_SECONDS = env_int("DASHBOARD_REFRESH_COOLDOWN_SECONDS", 30, minimum=1)
# Report reads per user per minute (page loads and /api/report; job polling is not counted).
# Any read may start a Genesys fetch, so a runaway script or tab must not drain the shared budget;
# a person clicking through filters or a wallboard stays far below it.
DASHBOARD_REPORT_READS_PER_MINUTE = env_int("DASHBOARD_REPORT_READS_PER_MINUTE", 60, minimum=1)
# New Genesys fetches a user may start per minute (joining a fetch already running is free): a
# script walking through filters must not fill Redis with reports or spend the shared budget.
DASHBOARD_FETCHES_PER_MINUTE = env_int("DASHBOARD_FETCHES_PER_MINUTE", 20, minimum=1)
# /metrics answers staff, or a scraper sending "Authorization: Bearer <this>" (empty: staff only).
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Logging out lands on the login page rather than the admin's "logged out" page.
LOGOUT_REDIRECT_URL = "login"
