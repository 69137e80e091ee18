from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

_django = get_wsgi_application()

from dashboard.polled import PolledApplication  # noqa: E402 (needs the settings loaded)

# The polled endpoints without Django's whole cycle, everything else by Django (dashboard.polled).
application = PolledApplication(_django)
