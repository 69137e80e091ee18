"""Admin for the saved reports that beat keeps warm: their health at a glance, and "Refresh now"."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from analytics_worker import cache, services
from analytics_worker.models import SavedReport
from analytics_worker.reports import ReportSpecError
from dashboard.forms import SAVED_REPORT_FILTERS, SavedReportForm

# Shown, never edited: `params` as stored (edited through the filter fields) and the refresh
# history beat writes.
HEALTH_FIELDS = (
    "params",
    "last_report_key",
    "last_enqueued_at",
    "last_success_at",
    "last_error",
    "last_error_at",
    "consecutive_failures",
)


@admin.register(SavedReport)
class SavedReportAdmin(admin.ModelAdmin):
    # The filters as the dashboard's own fields, checked on save as the dashboard checks them.
    form = SavedReportForm
    fieldsets = (
        (None, {"fields": ("name", "enabled", "refresh_seconds", "next_due_at")}),
        ("Filters", {"fields": SAVED_REPORT_FILTERS}),
        ("Health", {"fields": HEALTH_FIELDS}),
    )
    list_display = (
        "name",
        "enabled",
        "refresh_seconds",
        "last_success_at",
        "last_error_short",
        "last_error_at",
        "consecutive_failures",
        "next_due_at",
    )
    list_filter = ("enabled",)
    search_fields = ("name",)
    readonly_fields = HEALTH_FIELDS
    actions = ("refresh_now",)

    @admin.display(description="Last error")
    def last_error_short(self, report: SavedReport) -> str:
        return report.last_error[:80] + ("…" if len(report.last_error) > 80 else "")

    @admin.action(description="Refresh now")
    def refresh_now(self, request: HttpRequest, queryset: QuerySet[SavedReport]) -> None:
        now = timezone.now()
        started = []
        for report in queryset:
            try:
                services.saved_report_refresh(report=report, now=now)
            except ReportSpecError as exc:
                self.message_user(
                    request,
                    f"{report.name}: not refreshed, its filters are invalid: {exc}. Open it, fix "
                    "them and save.",
                    level=messages.ERROR,
                )
            except (cache.CacheUnavailable, services.WorkerUnavailable) as exc:
                # Same cause for every row: report it once and stop.
                self.message_user(request, f"Nothing refreshed: {exc}", level=messages.ERROR)
                return
            else:
                started.append(report.name)
        if started:
            self.message_user(
                request,
                f"Refreshing {len(started)} report(s): {', '.join(started)}. The fetch runs in "
                "the background; reload this page to see the outcome.",
                level=messages.SUCCESS,
            )
