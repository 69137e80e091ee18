"""Settings for the Genesys Cloud analytics dashboard.

Every value comes from the environment (or an optional `.env` beside manage.py). The defaults run
on a laptop with no configuration: DEBUG on, SQLite, local Redis, and the simulated Genesys org.
Production-only values have no default, so a misconfigured server stops at boot.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from celery import current_task
from celery.schedules import crontab
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
    "axes",
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
    "dashboard.middleware.private_cache_middleware",
    "dashboard.middleware.LazyMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
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
                "dashboard.context_processors.collection_status",
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

# --- Login throttling (django-axes) ----------------------------------------------------------------
# Both login pages (/accounts/login/ and the admin's) authenticate through these backends: axes
# first refuses a locked-out username or address, the cached ModelBackend then checks the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # ModelBackend, the request's user read from Redis and dropped on every save of it.
    "dashboard.user_cache.CachedModelBackend",
    # Never asked to log in (the one above ends the chain): it only loads the users of sessions
    # it made before the cached one came, so a deploy logs no one out.
    "django.contrib.auth.backends.ModelBackend",
]
# Sessions read from Redis and kept in the database, revocable with Redis down (the module
# says why not Django's cached_db).
SESSION_ENGINE = "dashboard.sessions"
# How often each web process reads the revocations that Redis missed while unreachable (a
# logout, a saved user): the longest a process may trust such a copy after Redis is back.
CACHE_REVOCATION_POLL_SECONDS = env_int("CACHE_REVOCATION_POLL_SECONDS", 1)
# After this many failed logins for one username, or from one address, further attempts are
# refused (HTTP 429) for LOGIN_LOCKOUT_MINUTES; a success before then starts the count afresh.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind proxies every attempt comes from the proxy's address, and a few typos anywhere would
# lock everyone out: set this to the number of proxies in front of the web that append the
# client's address to X-Forwarded-For (0: the connection's own address).
LOGIN_PROXY_COUNT = env_int("LOGIN_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "dashboard.middleware.login_client_address"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names and gzip copies, made by collectstatic (the Dockerfile runs it).
    "staticfiles": {"BACKEND": "config.storage.StaticFilesStorage"},
}

# --- HTTPS (production) -------------------------------------------------------------------------
# Production serves HTTPS only, through a TLS-terminating proxy in front of gunicorn. With DEBUG
# off, cookies are HTTPS-only and plain HTTP is redirected unless these say otherwise (trying the
# compose stack on http://localhost needs SECURE_SSL_REDIRECT=false and SECURE_COOKIES=false).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Health checks and metric scrapes come from inside the network, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^healthz/live$", r"^metrics$"]
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
    # Task priorities (analytics_worker/services.py PRIORITY_*): each queue is one Redis list per
    # step, and a worker pops them priority first, across all its queues, 0 first. Queues of
    # equal priority go in the order the worker names them (-Q interactive,celery), not in turn.
    "priority_steps": [0, 3, 6, 9],
    "queue_order_strategy": "priority",
}
# Small fetches a person waits for go to "interactive", which the Procfile gives a worker of its
# own; long fetches, beat's prefetch and every other task to the default queue. A worker started
# without -Q reads both.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES: dict[str, dict[str, str]] = {"interactive": {}, "celery": {}}

# --- Genesys Cloud / data source --------------------------------------------------------------------
GENESYS_CLIENT_ID = env_str("GENESYS_CLIENT_ID")
GENESYS_CLIENT_SECRET = env_str("GENESYS_CLIENT_SECRET")
# The simulated org is on by default only on a laptop (DEBUG on) with no real credentials:
# production must never report simulated data by accident, so there it takes an explicit
# GENESYS_SIMULATOR=true (and check --deploy then warns, config/checks.py).
GENESYS_SIMULATOR = env_bool("GENESYS_SIMULATOR", DEBUG and not GENESYS_CLIENT_ID)
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
# Where a drill-down's conversation ids link to: the interaction view of the region's web app.
GENESYS_APPS_URL = _region.apps_url
# The real login host is the API host with "api." replaced by "login." (every official SDK does
# so): login.<domain> for a region; the simulator serves both under the same /sim/.
GENESYS_LOGIN_URL = env_str(
    "GENESYS_LOGIN_URL", GENESYS_API_URL.replace("//api.", "//login.", 1)
).rstrip("/")
if not DEBUG and not (GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET):
    raise ImproperlyConfigured(
        "GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET must be set when DEBUG is off (see "
        "README 'Pointing it at a real Genesys Cloud org'), or set GENESYS_SIMULATOR=true to "
        "serve the simulated org on purpose"
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
# Fault injection (X-Sim-Fault, GENESYS_SIM_FAULTS) and the control endpoints (/sim/_faults,
# /sim/_reset, /sim/_stats): for tests and laptops only, since a fault such as slow:S lets a
# caller hold the server's workers. Off with DEBUG off unless set explicitly (the drills and
# the benches do; check --deploy then warns).
GENESYS_SIM_FAULTS_ENABLED = env_bool("GENESYS_SIM_FAULTS_ENABLED", DEBUG)
# Faults for the next API requests, queued once in Redis, e.g. "429x3,500x2,slow:2": see
# genesys_sim/README.md. A bad spec stops the server at boot.
GENESYS_SIM_FAULTS = env_str("GENESYS_SIM_FAULTS")
if GENESYS_SIM_FAULTS and not GENESYS_SIM_FAULTS_ENABLED:
    raise ImproperlyConfigured(
        "GENESYS_SIM_FAULTS is set but fault injection is off: set "
        "GENESYS_SIM_FAULTS_ENABLED=true (tests only), or empty GENESYS_SIM_FAULTS"
    )
# The longest interval one query may ask the simulated org for (GraphQL dateRange, aggregates
# interval; the details query has Genesys's own 7/31-day limits): a query costs time in
# proportion to its span (ten years took 8 s), so one request must not hold a worker for long.
# The default leaves room above REPORT_MAX_RANGE_DAYS.
GENESYS_SIM_MAX_INTERVAL_DAYS = env_int("GENESYS_SIM_MAX_INTERVAL_DAYS", 92, minimum=1)

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
# A report touching the last 48 hours, but not the last two: Genesys re-processes such data
# nightly (and e-mail metrics post days later), so it is refreshed more often than history.
REPORT_SETTLING_FRESH_SECONDS = env_int("REPORT_SETTLING_FRESH_SECONDS", 900, minimum=1)
REPORT_SETTLING_TTL_SECONDS = env_int("REPORT_SETTLING_TTL_SECONDS", 21600, minimum=1)
REPORT_HISTORICAL_FRESH_SECONDS = env_int("REPORT_HISTORICAL_FRESH_SECONDS", 14400, minimum=1)
REPORT_HISTORICAL_TTL_SECONDS = env_int("REPORT_HISTORICAL_TTL_SECONDS", 86400, minimum=1)
# After a failed fetch a stale report is served without a new one for this long (or for its own
# freshness, if shorter), doubled for each failure in a row (at most an hour), so a Genesys outage
# is not asked again on every read. A report with nothing cached, or a staff refresh, tries at once.
REPORT_RETRY_AFTER_FAILURE_SECONDS = env_int("REPORT_RETRY_AFTER_FAILURE_SECONDS", 60, minimum=1)

# --- What a fetch costs, and which waits first ---------------------------------------------------
# A fetch's cost is its requests to Genesys, estimated before it is queued (sources.py
# fetch_cost_estimate): aggregates one per 7 days; details and graphql one per page of
# conversations, counted at this many a day (set it near the contact centre's busiest day) until
# the report has been fetched once, and then at what its last fetch took.
REPORT_CONVERSATIONS_PER_DAY = env_int("REPORT_CONVERSATIONS_PER_DAY", 2000, minimum=1)
# A fetch a person waits for that costs at most this many requests goes to the "interactive"
# queue, first in line; longer ones wait on the default queue, still ahead of beat's prefetch.
FETCH_INTERACTIVE_MAX_REQUESTS = env_int("FETCH_INTERACTIVE_MAX_REQUESTS", 30, minimum=1)

# --- Fetch jobs and the workers running them ------------------------------------------------------
# A worker's heartbeat key expires this long after its last beat (it beats six times as often),
# so a worker killed even by SIGKILL is known to be gone; /healthz reads the same heartbeats.
WORKER_HEARTBEAT_TTL_SECONDS = env_int("WORKER_HEARTBEAT_TTL_SECONDS", 60, minimum=3)
# A fetch with no progress for this long (counted from the end of any wait it announced, such as
# a 429's Retry-After) whose worker has no heartbeat was lost with its worker: the reaper starts
# it again once, then fails it with a message. The page calls it stalled from then on. It must
# outlast the longest silence of a healthy fetch, one Genesys request (GENESYS_HTTP_TIMEOUT).
JOB_STALL_SECONDS = env_int("JOB_STALL_SECONDS", max(40, GENESYS_HTTP_TIMEOUT + 10), minimum=1)
if JOB_STALL_SECONDS <= GENESYS_HTTP_TIMEOUT:
    raise ImproperlyConfigured(
        f"JOB_STALL_SECONDS ({JOB_STALL_SECONDS}) must be longer than GENESYS_HTTP_TIMEOUT "
        f"({GENESYS_HTTP_TIMEOUT}): one slow Genesys request would pass for a dead worker"
    )
# How often beat runs the reaper (ghost locks, fetches lost with their worker).
REAPER_INTERVAL_SECONDS = env_int("REAPER_INTERVAL_SECONDS", 60, minimum=1)


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
# The worker and beat log through LOGGING above too (LOG_LEVEL included, whatever their --loglevel
# says): config/celery.py hands Celery's logging setup to it.

# --- Live wallboard (/live) ----------------------------------------------------------------------
# Beat polls the queue observations this often while someone watches (one request per 100
# watched queues per poll, whatever the number of screens).
LIVE_POLL_SECONDS = env_int("LIVE_POLL_SECONDS", 10, minimum=2)
# A live view is watched for this long after its last read (each open page reads every
# LIVE_PAGE_POLL_SECONDS): then polling for it stops.
LIVE_WATCH_SECONDS = env_int(
    "LIVE_WATCH_SECONDS", max(30, 3 * LIVE_POLL_SECONDS), minimum=LIVE_POLL_SECONDS
)
# How often an open /live page asks /api/live (a 304 when nothing changed): with the poll
# interval, it bounds how late a change reaches the screen (LIVE_POLL_SECONDS + this).
LIVE_PAGE_POLL_SECONDS = env_int("LIVE_PAGE_POLL_SECONDS", 2, minimum=1)

# Beat's tasks live above the services they call (analytics_worker/tasks.py is found by
# autodiscovery; this module is not named tasks.py).
CELERY_IMPORTS = ("analytics_worker.periodic_tasks",)
# The whole beat schedule, in one place.
CELERY_BEAT_SCHEDULE = {
    # Every minute: start fetches for saved reports that are due (each has its own interval).
    "refresh-due-reports": {"task": "analytics_worker.refresh_due_reports", "schedule": 60.0},
    # Every minute (REAPER_INTERVAL_SECONDS): free single-flight locks whose job ended (ghost
    # locks), and start again, once, a fetch whose worker died under it.
    "reap-locks": {
        "task": "analytics_worker.reap_locks",
        "schedule": float(REAPER_INTERVAL_SECONDS),
    },
    # Every night at 04:30 UTC, after Genesys's nightly re-processing: fetch again the saved
    # reports that touch the last 48 hours (their data may have changed since).
    "refetch-settling-reports": {
        "task": "analytics_worker.refetch_settling_reports",
        "schedule": crontab(hour=4, minute=30),
    },
    # Every 10 minutes: reload the queue names for the filter form (the cache keeps them 10 min).
    "refresh-queues": {"task": "analytics_worker.refresh_queues", "schedule": 540.0},
    # Every LIVE_POLL_SECONDS (10 s): poll the queue observations of the live views someone
    # watches (nothing is sent when nobody does). On the interactive queue at the top priority,
    # ahead of prefetch; a tick not started within one interval is dropped, not run late.
    "poll-live-queues": {
        "task": "analytics_worker.poll_live_queues",
        "schedule": float(LIVE_POLL_SECONDS),
        "options": {"queue": "interactive", "priority": 0, "expires": float(LIVE_POLL_SECONDS)},
    },
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
# Each user's budget for new fetches (joining a fetch already running is free), staff refreshes
# included. Every fetch is charged its cost in requests to Genesys (REPORT_CONVERSATIONS_PER_DAY)
# against DASHBOARD_FETCH_BUDGET_REQUESTS, which refills at ..._PER_MINUTE: one user's month of
# details must not hold the shared 300 requests/minute while others' one-day reports wait. One
# fetch larger than the whole budget may start when nothing is owed.
DASHBOARD_FETCH_BUDGET_REQUESTS = env_int("DASHBOARD_FETCH_BUDGET_REQUESTS", 600, minimum=1)
DASHBOARD_FETCH_BUDGET_REQUESTS_PER_MINUTE = env_int(
    "DASHBOARD_FETCH_BUDGET_REQUESTS_PER_MINUTE", 60, minimum=1
)
# And at most this many new fetches a minute, however cheap: each is a job, a lock and a result
# in Redis, and a script walking through filters must not fill it.
DASHBOARD_FETCHES_PER_MINUTE = env_int("DASHBOARD_FETCHES_PER_MINUTE", 20, minimum=1)
# With Redis down there is no shared budget, so direct fetches are bounded in each web process:
# ranges of at most this many days, and requests to Genesys sent that way per minute, by the
# whole process and by each user (an estimate up front, so parallel requests cannot all pass).
DASHBOARD_INLINE_FETCH_MAX_DAYS = env_int("DASHBOARD_INLINE_FETCH_MAX_DAYS", 1, minimum=1)
DASHBOARD_INLINE_REQUESTS_PER_MINUTE = env_int(
    "DASHBOARD_INLINE_REQUESTS_PER_MINUTE", 60, minimum=1
)
DASHBOARD_INLINE_REQUESTS_PER_USER_PER_MINUTE = env_int(
    "DASHBOARD_INLINE_REQUESTS_PER_USER_PER_MINUTE", 20, minimum=1
)
# /metrics answers staff, or a scraper sending "Authorization: Bearer <this>" (empty: staff only).
METRICS_TOKEN = env_str("METRICS_TOKEN")
# Logging out lands on the login page rather than the admin's "logged out" page.
LOGOUT_REDIRECT_URL = "login"
