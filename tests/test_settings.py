"""config/settings.py: DATABASE_URL, the production checks, and the log format."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest
from django.core.exceptions import ImproperlyConfigured

from analytics_worker import tasks
from config.settings import LogFormatter, database_from_url

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "k3$y-for-the-deploy-check-only-7d1f0c5b9e2a4d6f8b3c1e5a7d9f2b4c6e8a0d2f",
    "ALLOWED_HOSTS": "dash.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://dash.example.com",
    "SECURE_PROXY_SSL_HEADER": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "GENESYS_CLIENT_ID": "client-id",
    "GENESYS_CLIENT_SECRET": "client-secret",
    "REDIS_URL": "redis://127.0.0.1:6379",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run manage.py with only these variables (and PATH/HOME) set, as a server would."""
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_reads_a_postgres_url() -> None:
    entry = database_from_url(
        "postgres://dash:p%40ss%3Aw0rd@db.internal:6432/analytics?sslmode=require"
    )
    assert entry == {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "analytics",
        "USER": "dash",
        "PASSWORD": "p@ss:w0rd",
        "HOST": "db.internal",
        "PORT": "6432",
        "OPTIONS": {"sslmode": "require"},
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def test_it_reads_a_url_with_no_password_or_port() -> None:
    entry = database_from_url("postgresql://postgres@127.0.0.1/test")
    assert (entry["USER"], entry["PASSWORD"], entry["HOST"], entry["PORT"]) == (
        "postgres",
        "",
        "127.0.0.1",
        "",
    )


def test_it_reads_a_sqlite_url() -> None:
    assert database_from_url("sqlite:////var/lib/dash/db.sqlite3") == {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": "/var/lib/dash/db.sqlite3",
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


@pytest.mark.parametrize(
    "url", ["mysql://u@h/db", "postgres://u@h", "postgres://u@h/", "db.internal/analytics"]
)
def test_it_rejects_what_it_cannot_read(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_from_url(url)


def test_the_deploy_check_is_clean_with_production_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_check_warns_without_https_settings() -> None:
    insecure = {**PRODUCTION, "SECURE_HSTS_SECONDS": "0", "SECURE_COOKIES": "false"}
    result = manage("check", "--deploy", "--fail-level", "WARNING", **insecure)
    assert result.returncode != 0
    for check in ("security.W004", "security.W012", "security.W016"):
        assert check in result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without(missing: str) -> None:
    env = {name: value for name, value in PRODUCTION.items() if name != missing}
    result = manage("check", **env)
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {missing} must be set when DEBUG is off" in result.stderr


@pytest.mark.parametrize(
    "missing", [("GENESYS_CLIENT_ID", "GENESYS_CLIENT_SECRET"), ("GENESYS_CLIENT_SECRET",)]
)
def test_production_never_falls_back_to_the_simulated_org(missing: tuple[str, ...]) -> None:
    env = {name: value for name, value in PRODUCTION.items() if name not in missing}
    result = manage("check", **env)
    assert result.returncode != 0
    assert (
        "ImproperlyConfigured: GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET must be set when "
        "DEBUG is off"
    ) in result.stderr
    assert "GENESYS_SIMULATOR=true" in result.stderr


def without_credentials(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in PRODUCTION.items() if not k.startswith("GENESYS_CLIENT_")}
    return {**env, **extra}


def test_an_explicit_simulator_starts_but_the_deploy_check_warns() -> None:
    env = without_credentials(GENESYS_SIMULATOR="true")
    assert manage("check", **env).returncode == 0
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert "config.W001" in result.stderr and "GENESYS_SIMULATOR" in result.stderr
    assert "config.W002" not in result.stderr


def test_the_deploy_check_warns_about_fault_injection() -> None:
    env = without_credentials(GENESYS_SIMULATOR="true", GENESYS_SIM_FAULTS_ENABLED="true")
    result = manage("check", "--deploy", **env)
    assert "config.W002" in result.stderr and "GENESYS_SIM_FAULTS_ENABLED" in result.stderr


def test_queued_faults_need_fault_injection_on() -> None:
    env = without_credentials(GENESYS_SIMULATOR="true", GENESYS_SIM_FAULTS="500x2")
    result = manage("check", **env)
    assert result.returncode != 0
    assert "GENESYS_SIM_FAULTS is set but fault injection is off" in result.stderr


def test_it_refuses_an_unknown_log_format() -> None:
    result = manage("check", LOG_FORMAT="xml")
    assert "LOG_FORMAT must be plain or json" in result.stderr


def test_it_uses_the_database_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/from-url.sqlite3"
    result = manage("migrate", "--noinput", "-v0", DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "from-url.sqlite3").stat().st_size > 0


def test_it_reaches_postgres_with_a_database_url() -> None:
    pytest.importorskip("psycopg")
    result = manage(
        "check", "--database", "default", DATABASE_URL="postgres://postgres@127.0.0.1:5432/test"
    )
    if "Connection refused" in result.stderr:
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    assert result.returncode == 0, result.stderr


# --- logs ----------------------------------------------------------------------------------------


def record(message: str, *args: object, exc_info: bool = False) -> logging.LogRecord:
    info = None
    if exc_info:
        try:
            raise ValueError("boom\nsecond line")
        except ValueError:
            info = sys.exc_info()
    return logging.LogRecord(
        "analytics_worker.services", logging.WARNING, "", 0, message, args, info
    )


def test_a_json_event_is_one_line() -> None:
    line = LogFormatter(json_lines=True).format(record("fetch failed %s", "x", exc_info=True))
    assert "\n" not in line
    event = json.loads(line)
    assert event["level"] == "WARNING" and event["logger"] == "analytics_worker.services"
    assert event["message"] == "fetch failed x"
    assert "ValueError: boom" in event["exception"] and "job" not in event


def test_a_line_logged_in_a_task_names_its_job(db: None) -> None:
    lines: list[str] = []

    def report_job_run(*, spec_data: dict[str, object], job_id: str) -> str:
        lines.append(LogFormatter(json_lines=True).format(record("retrying")))
        lines.append(LogFormatter().format(record("retrying")))
        return "done"

    with mock.patch.object(tasks, "report_job_run", report_job_run):
        tasks.fetch_report_task.apply(kwargs={"spec": {}, "job_id": "job-1"}, task_id="job-1")
    assert json.loads(lines[0])["job"] == "job-1"
    assert lines[1].endswith("retrying [job=job-1]")
