from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"

    def ready(self) -> None:
        from django.contrib.auth.models import User
        from django.db.models.signals import post_delete, post_save

        # Registers the deploy checks of the project's own settings (the module's import does).
        from config import checks  # noqa: F401
        from dashboard.user_cache import user_saved

        # Every save of a user kills its cached copies (dashboard.user_cache says why a signal).
        post_save.connect(user_saved, sender=User, dispatch_uid="dashboard-user-saved")
        post_delete.connect(user_saved, sender=User, dispatch_uid="dashboard-user-deleted")
