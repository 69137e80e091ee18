from __future__ import annotations

from django.urls import path

from dashboard import live_views, views

urlpatterns = [
    path("", views.index, name="dashboard-index"),
    path("report/panel", views.report_panel, name="dashboard-report-panel"),
    path("api/report", views.api_report, name="dashboard-api-report"),
    path("api/jobs/<str:job_id>", views.api_job, name="dashboard-api-job"),
    path("api/queues", views.api_queues, name="dashboard-api-queues"),
    path("export.csv", views.export_csv, name="dashboard-export-csv"),
    path("export.json", views.export_json, name="dashboard-export-json"),
    path("export.xlsx", views.export_xlsx, name="dashboard-export-xlsx"),
    path("conversations", views.conversations, name="dashboard-conversations"),
    path("conversations.csv", views.conversations_csv, name="dashboard-conversations-csv"),
    path("refresh", views.refresh, name="dashboard-refresh"),
    path("saved-views", views.saved_view_create, name="dashboard-saved-view-create"),
    path("healthz", views.healthz, name="dashboard-healthz"),
    path("healthz/live", views.healthz_live, name="dashboard-healthz-live"),
    path("live", live_views.live_page, name="dashboard-live"),
    path("api/live", live_views.api_live, name="dashboard-api-live"),
    path("w/<str:token>", live_views.wallboard, name="dashboard-wallboard"),
    path("metrics", views.metrics_prometheus, name="dashboard-metrics"),
]
