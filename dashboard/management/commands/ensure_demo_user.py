"""Create the demo user on first run with the simulated org, printing its password once."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

DEMO_USERNAME = "demo"


class Command(BaseCommand):
    help = "With the simulated org, create a staff user 'demo' with a random password (once)."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if not settings.GENESYS_SIMULATOR:
            self.stdout.write("Real Genesys org configured: create users with createsuperuser.")
            return
        if user_model.objects.filter(username=DEMO_USERNAME).exists():
            self.stdout.write(
                f"Log in as '{DEMO_USERNAME}' with the password printed on first run "
                "(forgot it? python manage.py changepassword demo)."
            )
            return
        password = secrets.token_urlsafe(12)
        user_model.objects.create_user(DEMO_USERNAME, password=password, is_staff=True)
        self.stdout.write(
            f"Created the demo user. Log in as '{DEMO_USERNAME}' with password: {password}\n"
            "This password is shown only once."
        )
