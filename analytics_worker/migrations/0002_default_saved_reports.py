from django.db import migrations

# The dashboard's default view (no query string: last 24 hours at 30 minutes) is the first, so a
# supervisor's first look is a cache hit.
DEFAULT_REPORTS = [
    ("Last 24 hours, all queues, 30 min", {"range": "last_24h", "granularity": "PT30M"}, 120),
    ("Today, all queues, 30 min", {"range": "today", "granularity": "PT30M"}, 120),
    ("Last 7 days, daily", {"range": "last_7d", "granularity": "P1D"}, 3600),
]


def create_reports(apps, schema_editor):
    SavedReport = apps.get_model("analytics_worker", "SavedReport")
    for name, params, refresh_seconds in DEFAULT_REPORTS:
        SavedReport.objects.get_or_create(
            name=name, defaults={"params": params, "refresh_seconds": refresh_seconds}
        )


def delete_reports(apps, schema_editor):
    SavedReport = apps.get_model("analytics_worker", "SavedReport")
    SavedReport.objects.filter(name__in=[name for name, _, _ in DEFAULT_REPORTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("analytics_worker", "0001_saved_report")]
    operations = [migrations.RunPython(create_reports, delete_reports)]
