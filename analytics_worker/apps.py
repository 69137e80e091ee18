from django.apps import AppConfig


class AnalyticsWorkerConfig(AppConfig):
    name = "analytics_worker"
    verbose_name = "Analytics worker"
