"""What every page of a logged-in user shows whatever the view: whether data collection runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis
from django.conf import settings
from django.http import HttpRequest

from analytics_worker import heartbeats


def collection_status(request: HttpRequest) -> dict[str, Any]:
    """`collection_down`: the banner's sentence when no worker's heartbeat is recent (so every
    page says at once that what it shows is what was fetched before), else empty. Redis down is
    the degraded banner's to say."""
    if not request.user.is_authenticated:
        return {}
    try:
        since = heartbeats.collection_down_since()
    except redis.RedisError:
        return {}
    if since is None:
        return {}
    if not since:
        return {"collection_down": "Data collection is down: no worker has reported yet."}
    zone = ZoneInfo(settings.REPORT_DEFAULT_TIME_ZONE)
    moment = datetime.fromtimestamp(since, tz=zone)
    return {
        "collection_down": (
            f"Data collection is down since {moment:%H:%M} ({settings.REPORT_DEFAULT_TIME_ZONE}): "
            "showing what was fetched before."
        )
    }
