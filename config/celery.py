"""The Celery app: `celery -A config worker` and `celery -A config beat`."""

from __future__ import annotations

import logging.config
import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("analytics_worker")
# Every CELERY_* Django setting configures Celery (settings.py has the block).
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def logging_from_settings(**_: Any) -> None:
    """The worker, its pool processes and beat log through settings.LOGGING (LOG_LEVEL,
    LOG_FORMAT) like the web. With a receiver here Celery configures no logging of its own;
    without one, its --loglevel (WARNING unless given) set the root level over LOG_LEVEL."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)
