from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

# A failing report is retried later and later, but never disabled: a silently dead schedule is
# Redash's most reported bug (its issue tracker: scheduled queries that stopped without a word).
MAX_BACKOFF = timedelta(hours=1)


class SavedReport(models.Model):
    """A common report that beat keeps warm, so a supervisor's first look is a cache hit."""

    name = models.CharField(max_length=100, unique=True)
    # Query-string filters exactly as the dashboard sends them (e.g. {"range": "last_24h"}),
    # turned into a ReportSpec at each refresh, so relative ranges move with the clock.
    params = models.JSONField(default=dict, blank=True)
    refresh_seconds = models.PositiveIntegerField(default=120)
    enabled = models.BooleanField(default=True)
    next_due_at = models.DateTimeField(default=timezone.now)
    # The cache key of the last refresh enqueued; the fetch task reports its outcome through it.
    last_report_key = models.CharField(max_length=64, blank=True, db_index=True)
    last_enqueued_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def backoff_until(self, *, now: datetime) -> datetime:
        delay = timedelta(seconds=self.refresh_seconds) * 2 ** min(self.consecutive_failures, 10)
        return now + min(delay, max(MAX_BACKOFF, timedelta(seconds=self.refresh_seconds)))

    def failure_record(self, *, message: str, now: datetime) -> None:
        """Count one more failed refresh, show `message` in the admin, and back off."""
        self.consecutive_failures += 1
        self.last_error = message
        self.last_error_at = now
        self.next_due_at = self.backoff_until(now=now)
        self.save(
            update_fields=["consecutive_failures", "last_error", "last_error_at", "next_due_at"]
        )
