"""The product's URLs, plus the tutorial baseline's two views under /bench/."""

from __future__ import annotations

from django.urls import path

from bench import baseline
from config.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/baseline/api", baseline.api_view),
    path("bench/baseline/page", baseline.page_view),
    *product_urlpatterns,
]
