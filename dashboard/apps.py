from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self) -> None:
        # Registers the deploy checks of the project's own settings (the module's import does).
        from config import checks  # noqa: F401
