"""The dashboard's own tables: the live wallboard's settings that staff keep in the admin
(per-queue tile thresholds, and the wallboard links that let a TV show one live view without
logging in), and the revocations Redis missed while it was down."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

# A link's last use is written at most this often: a TV reads /api/live every few seconds.
LAST_USED_WRITE_EVERY = timedelta(minutes=1)


class LiveThreshold(models.Model):
    """When a queue's live tile turns amber or red. Empty fields take the defaults (see
    dashboard.live.tile_level): the longest wait against the queue's service-level threshold,
    the SL % against the queue's target."""

    class Level(models.TextChoices):
        RED = "red", "Red"
        AMBER = "amber", "Amber"
        OFF = "off", "Not flagged"

    queue_id = models.CharField(max_length=64, unique=True)
    label = models.CharField(max_length=100, blank=True, help_text="For this list only.")
    longest_wait_amber_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Default: the queue's service-level threshold (voice)."
    )
    longest_wait_red_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Default: twice the amber threshold."
    )
    service_level_target_pct = models.FloatField(
        null=True, blank=True, help_text="Default: the queue's own service-level goal."
    )
    service_level_amber_points = models.FloatField(
        default=5.0, help_text="Amber while the SL % is less than this many points above target."
    )
    no_idle_agent_level = models.CharField(
        max_length=5,
        choices=Level.choices,
        default=Level.RED,
        help_text="How a tile shows calls waiting while no agent of the queue is idle.",
    )

    class Meta:
        ordering = ("label", "queue_id")

    def __str__(self) -> str:
        return self.label or self.queue_id


def wallboard_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class WallboardLinkQuerySet(models.QuerySet["WallboardLink"]):
    def usable(self) -> WallboardLinkQuerySet:
        return self.filter(revoked_at__isnull=True)


class WallboardLink(models.Model):
    """A read-only link to one live view for a screen that never logs in. Only the token's
    SHA-256 is stored: the token itself is shown once, when the link is made."""

    label = models.CharField(max_length=100, help_text='Where the screen is: "Floor 2 TV".')
    # [] is every queue.
    queue_ids = models.JSONField(default=list, blank=True)
    dark = models.BooleanField(default=True, help_text="Light text on a dark background.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = WallboardLinkQuerySet.as_manager()

    class Meta:
        ordering = ("label",)

    def __str__(self) -> str:
        return self.label

    def token_issue(self) -> str:
        """A new token for this link (the old one stops working once saved); returns it."""
        token = secrets.token_urlsafe(32)
        self.token_hash = wallboard_token_hash(token)
        return token

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class PendingRevocation(models.Model):
    """A copy in Redis that could not be revoked while Redis was unreachable (a logout, a
    changed session, a saved user): until some process applies it to Redis, every web process
    ignores that copy and reads the database instead (dashboard.revocations)."""

    class Kind(models.TextChoices):
        SESSION_REVOKED = "session_revoked"  # logout: the session's copy becomes a tombstone
        SESSION_CHANGED = "session_changed"  # saved data: the copy is dropped, reread from the DB
        USER_CHANGED = "user_changed"  # saved user: the user's generation is bumped

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # The session key, or the user's id.
    name = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"
