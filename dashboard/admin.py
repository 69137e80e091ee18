"""Admin for the saved reports that beat keeps warm: their health at a glance, and "Refresh now";
and for the live wallboard: its per-queue thresholds and its wallboard links."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from analytics_worker import cache, services
from analytics_worker.models import SavedReport
from analytics_worker.reports import ReportSpecError
from dashboard.forms import SAVED_REPORT_FILTERS, SavedReportForm
from dashboard.models import LiveThreshold, WallboardLink

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


# --- The live wallboard ---------------------------------------------------------------------------


def _queue_field(*, required: bool, help_text: str) -> forms.Field:
    """The org's queues to choose from, or free-text ids while the queue list is not cached."""
    choices = services.queue_choices()
    if choices:
        return forms.MultipleChoiceField(
            choices=choices,
            required=required,
            widget=forms.CheckboxSelectMultiple,
            help_text=help_text,
        )
    return forms.CharField(
        required=required,
        help_text=f"{help_text} Queue ids, comma-separated (the queue list is loading).",
    )


def _queue_ids(value: object) -> list[str]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    return sorted({str(item).strip() for item in items if str(item).strip()})


class WallboardLinkForm(forms.ModelForm):
    class Meta:
        model = WallboardLink
        fields = ("label", "dark")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["queues"] = _queue_field(
            required=False, help_text="The queues this screen shows; none: every queue."
        )
        self.initial["queues"] = self.instance.queue_ids or []

    def save(self, commit: bool = True) -> WallboardLink:
        self.instance.queue_ids = _queue_ids(self.cleaned_data.get("queues"))
        return super().save(commit=commit)


@admin.register(WallboardLink)
class WallboardLinkAdmin(admin.ModelAdmin):
    """Links for screens that never log in. The token is shown once, when the link is made;
    revoking (or issuing a new token) stops the screen at its next poll."""

    form = WallboardLinkForm
    list_display = (
        "label",
        "queues_text",
        "dark",
        "created_by",
        "created_at",
        "last_used_at",
        "state",
    )
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    readonly_fields = ("created_by", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke", "issue_new_token")

    @admin.display(description="Queues")
    def queues_text(self, link: WallboardLink) -> str:
        names = dict(services.queue_choices())
        return ", ".join(names.get(q, q) for q in link.queue_ids) or "All queues"

    @admin.display(description="State")
    def state(self, link: WallboardLink) -> str:
        return f"Revoked {link.revoked_at:%Y-%m-%d %H:%M}" if link.revoked_at else "Active"

    def save_model(self, request: HttpRequest, obj: WallboardLink, form: Any, change: bool) -> None:
        token = None
        if not change:
            obj.created_by = request.user if request.user.is_authenticated else None
            token = obj.token_issue()
        super().save_model(request, obj, form, change)
        if token:
            self._show_link(request, obj, token)

    def _show_link(self, request: HttpRequest, link: WallboardLink, token: str) -> None:
        url = request.build_absolute_uri(reverse("dashboard-wallboard", args=[token]))
        self.message_user(
            request,
            f"Wallboard link for {link.label}: {url} — open it on the screen now; it is shown "
            "only this once (only its hash is kept). Anyone with it can watch this view.",
            level=messages.WARNING,
        )

    @admin.action(description="Revoke (the screen stops at its next poll)")
    def revoke(self, request: HttpRequest, queryset: QuerySet[WallboardLink]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} wallboard link(s).", level=messages.SUCCESS)

    @admin.action(description="Issue a new token (the old one stops working)")
    def issue_new_token(self, request: HttpRequest, queryset: QuerySet[WallboardLink]) -> None:
        for link in queryset:
            token = link.token_issue()
            link.revoked_at = None
            link.save(update_fields=["token_hash", "revoked_at"])
            self._show_link(request, link, token)


class LiveThresholdForm(forms.ModelForm):
    class Meta:
        model = LiveThreshold
        fields = (
            "queue_id",
            "label",
            "longest_wait_amber_seconds",
            "longest_wait_red_seconds",
            "service_level_target_pct",
            "service_level_amber_points",
            "no_idle_agent_level",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = services.queue_choices()
        if choices:
            self.fields["queue_id"] = forms.ChoiceField(choices=choices, label="Queue")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        amber, red = data.get("longest_wait_amber_seconds"), data.get("longest_wait_red_seconds")
        if amber is not None and red is not None and red < amber:
            raise forms.ValidationError("The red wait must be at least the amber wait.")
        return data


@admin.register(LiveThreshold)
class LiveThresholdAdmin(admin.ModelAdmin):
    form = LiveThresholdForm
    list_display = (
        "__str__",
        "queue_id",
        "longest_wait_amber_seconds",
        "longest_wait_red_seconds",
        "service_level_target_pct",
        "service_level_amber_points",
        "no_idle_agent_level",
    )
