"""config/celery.py: the worker and beat log at LOG_LEVEL, through settings.LOGGING."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What `celery worker --loglevel INFO` and `celery beat --loglevel INFO` do with their option
# (celery.apps.worker / celery.apps.beat setup_logging, and each prefork child at its start),
# then one line at each level.
PROBE = r"""
import logging
import sys
import django
from config.celery import app
django.setup()
app.log.setup(logging.INFO, None, redirect_stdouts=True)
root = logging.getLogger()
out = sys.__stdout__  # print() may be redirected to a logger
out.write(f"root level {logging.getLevelName(root.level)}\n")
out.write(f"formatters {sorted({type(h.formatter).__name__ for h in root.handlers})}\n")
logging.getLogger("analytics_worker.probe").info("probe info line")
logging.getLogger("analytics_worker.probe").warning("probe warning line")
"""


def run_probe(**env: str) -> subprocess.CompletedProcess[str]:
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_log_level_applies_to_the_worker_and_beat_whatever_their_loglevel_option() -> None:
    result = run_probe(LOG_LEVEL="WARNING", LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "root level WARNING" in result.stdout
    # Still our handler and format (settings.LOGGING), not Celery's own.
    assert "formatters ['LogFormatter']" in result.stdout
    assert "probe info line" not in result.stderr
    assert '"message": "probe warning line"' in result.stderr


def test_the_worker_logs_info_by_default() -> None:
    result = run_probe()
    assert result.returncode == 0, result.stderr[-2000:]
    assert "root level INFO" in result.stdout
    assert "probe info line" in result.stderr
