"""The LIVE_* settings and the beat entry of the live poll, read as a server reads them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRINT = (
    "from django.conf import settings as s; "
    "e = s.CELERY_BEAT_SCHEDULE['poll-live-queues']; "
    "print(s.LIVE_POLL_SECONDS, s.LIVE_WATCH_SECONDS, s.LIVE_PAGE_POLL_SECONDS, "
    "e['schedule'], e['options']['queue'], e['options']['priority'], e['options']['expires'])"
)


def settings_of(**env: str) -> subprocess.CompletedProcess[str]:
    base = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "--verbosity", "0", "-c", PRINT],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_defaults_poll_every_10_s_on_the_interactive_queue_first():
    done = settings_of()
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["10", "30", "2", "10.0", "interactive", "0", "10.0"]


def test_the_watch_outlives_three_polls_and_a_too_short_one_is_refused():
    done = settings_of(LIVE_POLL_SECONDS="20")
    assert done.stdout.split()[:4] == ["20", "60", "2", "20.0"]
    refused = settings_of(LIVE_POLL_SECONDS="20", LIVE_WATCH_SECONDS="5")
    assert refused.returncode != 0
    assert "LIVE_WATCH_SECONDS must be at least 20, not 5" in refused.stderr
    assert "LIVE_POLL_SECONDS must be at least 2" in settings_of(LIVE_POLL_SECONDS="1").stderr
