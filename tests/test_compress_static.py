"""Static files: collectstatic writes hashed names and gzip copies (config.storage), and
{% static %} works with and without its manifest."""

from __future__ import annotations

import gzip
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.template import Context, Template

from config.storage import StaticFilesStorage


def test_collectstatic_writes_hashed_names_and_gzip_copies(tmp_path: Path, settings) -> None:
    settings.STATIC_ROOT = str(tmp_path)
    call_command("collectstatic", interactive=False, verbosity=0)
    storage = StaticFilesStorage(location=str(tmp_path))
    hashed = storage.stored_name("dashboard/dashboard.js")
    assert hashed != "dashboard/dashboard.js"
    assert hashed.startswith("dashboard/dashboard.") and hashed.endswith(".js")
    original = (Path(settings.BASE_DIR) / "dashboard/static/dashboard/dashboard.js").read_bytes()
    assert (tmp_path / hashed).read_bytes() == original
    assert gzip.decompress((tmp_path / (hashed + ".gz")).read_bytes()) == original
    assert storage.url("dashboard/dashboard.css").startswith("/static/dashboard/dashboard.")


def test_without_a_manifest_static_gives_the_plain_name(tmp_path: Path) -> None:
    storage = StaticFilesStorage(location=str(tmp_path))
    assert storage.url("dashboard/dashboard.js") == "/static/dashboard/dashboard.js"


def test_the_settings_use_it() -> None:
    assert settings.STORAGES["staticfiles"]["BACKEND"] == "config.storage.StaticFilesStorage"
    rendered = Template("{% load static %}{% static 'dashboard/dashboard.css' %}").render(Context())
    assert rendered.startswith("/static/dashboard/dashboard")
