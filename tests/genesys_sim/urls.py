from __future__ import annotations

from django.urls import include, path

# The simulator alone, mounted where config/urls.py mounts it, so these tests do not depend on
# the dashboard's URLs importing cleanly.
urlpatterns = [path("sim/", include("genesys_sim.urls"))]
