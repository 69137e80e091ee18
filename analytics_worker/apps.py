from django.apps import AppConfig


class AnalyticsWorkerConfig(AppConfig):
    name = "analytics_worker"
    verbose_name = "Analytics worker"

    def ready(self) -> None:
        from analytics_worker import heartbeats

        heartbeats.signals_connect()
