from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("dashboard.urls")),
]

if settings.GENESYS_SIMULATOR:
    # The simulated org is reached over HTTP only, exactly like the real Genesys Cloud.
    urlpatterns.append(path("sim/", include("genesys_sim.urls")))
