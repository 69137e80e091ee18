from __future__ import annotations

from django.db import models


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
