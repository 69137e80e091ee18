"""docker-compose.yml, the Dockerfile and .dockerignore, checked without Docker.

Docker does not run on CI's machine, so the compose file is linted here (strict YAML: no duplicate
keys) and every command it starts is run with --help or --check-config, which fails on an unknown
module, entry point or option exactly as the container would at start.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from django.urls import resolve

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
APP_SERVICES = ("migrate", "web", "worker", "interactive-worker", "beat")


class StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word; a compose file must not."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # The keys written in this mapping, not those merged in with `<<:` (which it may override).
        keys = [key.value for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"]
        duplicates = {key for key in keys if keys.count(key) > 1}
        if duplicates:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate keys {sorted(duplicates)}", node.start_mark
            )
        return super().construct_mapping(node, deep=deep)


def compose() -> dict[str, Any]:
    return dict(yaml.load(COMPOSE.read_text(), Loader=StrictLoader))


def services() -> dict[str, dict[str, Any]]:
    return dict(compose()["services"])


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a command as the image would, from the venv, with only what settings need to load."""
    bin_dir = Path(sys.executable).parent
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/tmp"),
        "DEBUG": "true",
    }
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False
    )


def test_it_is_strict_yaml() -> None:
    assert set(services()) == {
        "migrate",
        "web",
        "worker",
        "interactive-worker",
        "beat",
        "redis",
        "postgres",
    }
    duplicated = "services:\n  web:\n    image: a\n    image: b\n"
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate keys"):
        yaml.load(duplicated, Loader=StrictLoader)


def test_web_worker_and_beat_run_one_image_with_one_configuration() -> None:
    app = [services()[name] for name in APP_SERVICES]
    assert {(s["build"], s["image"], s["env_file"]) for s in app} == {
        (".", "genesys-analytics-dashboard:latest", ".env")
    }
    for service in app:
        environment = service["environment"]
        assert environment["DEBUG"] == "false"
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["REDIS_URL"] == "redis://redis:6379"


@pytest.mark.parametrize("name", ["web"])
def test_the_web_command_loads_its_wsgi_application(name: str) -> None:
    command = services()[name]["command"]
    assert command[:2] == ["gunicorn", "config.wsgi:application"]
    # --check-config imports the application and rejects unknown options, then exits.
    result = run([command[0], "--check-config", *command[1:]])
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("name", ["worker", "interactive-worker", "beat"])
def test_the_celery_commands_name_the_app_and_real_options(name: str) -> None:
    command = services()[name]["command"]
    assert command[:3] == ["celery", "-A", "config"]
    # Click resolves -A (the module must hold the Celery app) and every option before --help.
    result = run([*command, "--help"])
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_migrate_command_is_a_django_command() -> None:
    command = services()["migrate"]["command"]
    assert command[:3] == ["python", "manage.py", "migrate"]
    result = run([*command, "--help"])
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_web_health_check_is_valid_python_calling_the_liveness_url() -> None:
    test = services()["web"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    compile(test[3], "healthcheck", "exec")
    # Liveness, not readiness: a stopped worker must not mark a web that serves pages unhealthy.
    urls = re.findall(r"'(http://[^']+)'", test[3])
    assert urls == ["http://127.0.0.1:8000/healthz/live"]
    assert resolve(urlsplit(urls[0]).path).url_name == "dashboard-healthz-live"
    # It calls in as 127.0.0.1, so the web must answer to that name.
    assert services()["web"]["environment"]["ALLOWED_HOSTS"].endswith(",127.0.0.1")


def test_the_app_waits_for_healthy_redis_and_postgres_and_a_migrated_database() -> None:
    for name in ("web", "worker", "interactive-worker", "beat"):
        assert services()[name]["depends_on"] == {
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
    assert services()["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services()["migrate"]["restart"] == "no"


def test_redis_and_postgres_have_health_checks_and_postgres_keeps_its_data() -> None:
    redis_service, postgres = services()["redis"], services()["postgres"]
    assert redis_service["image"] == "redis:7"
    assert redis_service["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert postgres["image"].startswith("postgres:") and postgres["image"] != "postgres:latest"
    assert postgres["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "postgres-data:/var/lib/postgresql/data" in postgres["volumes"]
    assert "postgres-data" in compose()["volumes"]


def test_a_worker_is_kept_for_the_fetches_people_wait_for() -> None:
    assert "--queues=interactive" in services()["interactive-worker"]["command"]
    assert "--queues=interactive,celery" in services()["worker"]["command"]


def test_workers_can_be_scaled_and_beat_is_single() -> None:
    worker = services()["worker"]
    # `--scale worker=3` fails on a fixed container name or a published port.
    assert "container_name" not in worker and "ports" not in worker
    assert "--scale worker=3" in COMPOSE.read_text()
    assert "deploy" not in services()["beat"]


def test_every_variable_it_reads_is_documented_in_env_example() -> None:
    read = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE.read_text()))
    listed = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read and read - listed == set()


def test_the_dockerfile_builds_the_one_image() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)
    assert "pip install -r requirements.txt" in dockerfile
    assert "collectstatic --noinput" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    cmd = re.search(r"^CMD (.+)$", dockerfile, re.M)
    assert cmd and '"config.wsgi:application"' in cmd.group(1)


def test_secrets_and_local_state_stay_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".env", ".venv", ".git", "db.sqlite3"):
        assert entry in ignored
