"""Create the demo user on first run with the simulated org, printing its password once."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand

DEMO_USERNAME = "demo"
# What the demo's staff user may do in the admin: the saved reports (views), all of them.
DEMO_PERMISSIONS = ("add", "change", "delete", "view")


class Command(BaseCommand):
    help = "With the simulated org, create a staff user 'demo' with a random password (once)."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if not settings.GENESYS_SIMULATOR:
            self.stdout.write("Real Genesys org configured: create users with createsuperuser.")
            return
        existing = user_model.objects.filter(username=DEMO_USERNAME).first()
        if existing is not None:
            # A demo user made before it had them gets them now.
            self._permissions_grant(existing)
            self.stdout.write(
                f"Log in as '{DEMO_USERNAME}' with the password printed on first run "
                "(forgot it? python manage.py changepassword demo)."
            )
            return
        password = secrets.token_urlsafe(12)
        user = user_model.objects.create_user(DEMO_USERNAME, password=password, is_staff=True)
        self._permissions_grant(user)
        self.stdout.write(
            f"Created the demo user. Log in as '{DEMO_USERNAME}' with password: {password}\n"
            "This password is shown only once."
        )

    def _permissions_grant(self, user: Any) -> None:
        user.user_permissions.add(
            *Permission.objects.filter(
                content_type__app_label="analytics_worker",
                codename__in=[f"{action}_savedreport" for action in DEMO_PERMISSIONS],
            )
        )
