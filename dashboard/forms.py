"""The filter form over a report: its choices and labels, what it shows, and where an error
goes.

Validation is report_spec_build's alone (the page, the JSON endpoints, the exports and the
saved reports all go through it), so these fields validate nothing: they only say what the form
shows, which is the request's own values (a rejected one is shown back, to be fixed) or the
defaults. The form runs report_spec_build and puts its ReportSpecError on the field it names.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.forms.widgets import ChoiceWidget
from django.http import QueryDict
from django.utils.html import format_html
from django.utils.safestring import SafeString

from analytics_worker import reports, services
from analytics_worker.models import SavedReport
from analytics_worker.timebuckets import GRANULARITY_MINUTES

RANGE_LABELS = {
    "today": "Today",
    "yesterday": "Yesterday",
    "last_24h": "Last 24 hours",
    "last_7d": "Last 7 days",
    "custom": "Custom dates",
}
GRANULARITY_LABELS = {"PT15M": "15 min", "PT30M": "30 min", "PT1H": "1 hour", "P1D": "1 day"}
MEDIA_TYPE_LABELS = {
    "voice": "Voice",
    "callback": "Callback",
    "chat": "Chat",
    "email": "Email",
    "message": "Message",
}
GROUP_LABELS = {"queue": "Queue", "media": "Media type", "direction": "Direction", "agent": "Agent"}
# Offered as suggestions; any IANA name can be typed in.
COMMON_TIME_ZONES = (
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Amsterdam",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Athens",
    "Europe/Istanbul",
    "Africa/Johannesburg",
    "Africa/Lagos",
    "Africa/Cairo",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Manila",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Perth",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/St_Johns",
    "America/Halifax",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Mexico_City",
    "America/Bogota",
    "America/Santiago",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
)
# What an error message calls each filter, by query parameter.
FIELD_LABELS = {
    "range": "Range",
    "start": "From",
    "end": "To",
    "granularity": "Buckets",
    "tz": "Time zone",
    "type": "Media type",
    "direction": "Direction",
    "queue": "Queues",
    "view": "View",
    "source": "Source",
    "group": "Group by",
    "at": "Bucket",
    "member": "Row",
}
# Comparison with the previous period (a page option): what it is called, and how far back.
COMPARE_LABELS = {"day": "the day before", "week": "the week before"}
COMPARE_SHIFTS = {"day": timedelta(days=1), "week": timedelta(days=7)}
# Auto-refresh (wallboards): minutes between reads of the report, 0 for off.
AUTO_REFRESH_CHOICES = ((0, "off"), (1, "every 1 min"), (5, "every 5 min"), (15, "every 15 min"))


def report_spec_from_query(
    query: QueryDict,
    *,
    now: datetime,
    queues: Sequence[tuple[str, str]] = (),
    drill: bool = False,
) -> reports.ReportSpec:
    """The report a query string names (`drill`: the drill-down into one of its buckets or
    rows); raises reports.ReportSpecError naming the bad field.

    With the org's queues (id, name) known, `queue=` takes names as well as ids, and one that
    is neither is refused by name: a mistyped or deleted queue must not read as a quiet zero."""
    params: dict[str, str | list[str]] = {name: query.getlist(name) for name in query}
    if queues and "queue" in params:
        params["queue"] = queue_ids_resolve(params["queue"], queues)
    build = reports.drill_spec_build if drill else reports.report_spec_build
    return build(params=params, now=now, default_time_zone=settings.REPORT_DEFAULT_TIME_ZONE)


def queue_ids_resolve(values: str | list[str], queues: Sequence[tuple[str, str]]) -> list[str]:
    """Each queue given by id or by name (any case) as its id."""
    ids = {queue_id for queue_id, _ in queues}
    by_name = {name.casefold(): queue_id for queue_id, name in queues}
    found = []
    for value in [values] if isinstance(values, str) else values:
        for part in (part.strip() for part in value.split(",")):
            if not part:
                continue
            queue_id = part if part in ids else by_name.get(part.casefold())
            if queue_id is None:
                raise reports.ReportSpecError(
                    "queue",
                    f"no queue is named {part[:60]!r} or has that id (deleted, or outside this "
                    "client's divisions?); pick the queues from the list",
                )
            found.append(queue_id)
    return found


# More buckets than this and a chart is a smear of bars: the page proposes coarser ones.
MAX_CHART_BUCKETS = 1000


def _readable_refuse(spec: reports.ReportSpec) -> None:
    """Refuse, for the page, a range in more buckets than a chart can show, naming the
    granularity that fits (the API and exports take any: they are read by programs)."""
    count = math.ceil((spec.end - spec.start) / timedelta(minutes=spec.bucket_minutes))
    if count <= MAX_CHART_BUCKETS:
        return
    coarser = [
        (name, math.ceil((spec.end - spec.start) / timedelta(minutes=minutes)))
        for name, minutes in GRANULARITY_MINUTES.items()
        if minutes > spec.bucket_minutes
    ]
    fits = next(((name, n) for name, n in coarser if n <= MAX_CHART_BUCKETS), None)
    advice = (
        f"choose {GRANULARITY_LABELS[fits[0]]} buckets ({fits[1]:,}) or a shorter range"
        if fits
        else "choose a shorter range"
    )
    raise reports.ReportSpecError(
        "granularity",
        f"{count:,} buckets of {GRANULARITY_LABELS[spec.granularity]} are more than a chart "
        f"shows readably (at most {MAX_CHART_BUCKETS:,}): {advice}",
    )


class FilterBoundField(forms.BoundField):
    """A filter as index.html draws it: its input tied to its error message."""

    @property
    def error_id(self) -> str:
        return f"error-{self.html_name}"

    @property
    def invalid_attrs(self) -> SafeString:
        """aria-invalid and aria-describedby for the filter's input, when it has an error."""
        if not self.errors:
            return SafeString("")
        return format_html(' aria-invalid="true" aria-describedby="{}"', self.error_id)


class FilterField(forms.Field):
    """One filter: the request's value, or `initial` when it gives none. No validation."""

    def __init__(
        self, *, choices: Sequence[tuple[Any, str]] = (), initial: Any = "", **kwargs: Any
    ) -> None:
        super().__init__(required=False, initial=initial, **kwargs)
        # What the form offers; for a free-text filter (tz), suggestions only.
        self.choices = list(choices)

    def bound_data(self, data: Any, initial: Any) -> Any:
        return initial if data in self.empty_values else data


class MultiFilterField(FilterField):
    """A filter of several values, repeated (?type=voice&type=chat) or comma-separated."""

    widget = forms.SelectMultiple  # reads every value of the parameter, not only the last

    def bound_data(self, data: Any, initial: Any) -> list[str]:
        return [part.strip() for value in data or () for part in value.split(",") if part.strip()]


class AutoRefreshField(FilterField):
    def bound_data(self, data: Any, initial: Any) -> int:
        try:
            minutes = int(data)
        except (TypeError, ValueError):
            return 0
        return minutes if minutes in dict(self.choices) else 0


class WallField(FilterField):
    def bound_data(self, data: Any, initial: Any) -> bool:
        return data == "1"


class CompareField(FilterField):
    def bound_data(self, data: Any, initial: Any) -> str:
        return data if data in COMPARE_SHIFTS else ""


class ReportFilterForm(forms.Form):
    """The filters of the page's query string. Bind it to request.GET; is_valid() builds
    `spec` with report_spec_build, or puts its error on the field it names."""

    bound_field_class = FilterBoundField

    range = FilterField(
        label=FIELD_LABELS["range"],
        choices=[(name, RANGE_LABELS[name]) for name in reports.RANGES],
    )
    start = FilterField(label=FIELD_LABELS["start"])
    end = FilterField(label=FIELD_LABELS["end"])
    granularity = FilterField(
        label=FIELD_LABELS["granularity"],
        choices=[(name, GRANULARITY_LABELS[name]) for name in GRANULARITY_MINUTES],
        initial=reports.DEFAULT_GRANULARITY,
    )
    # Callable: read per request, so a changed setting (and a test's override) applies.
    tz = FilterField(
        label=FIELD_LABELS["tz"],
        choices=[(zone, zone) for zone in COMMON_TIME_ZONES],
        initial=lambda: settings.REPORT_DEFAULT_TIME_ZONE,
    )
    type = MultiFilterField(
        label=FIELD_LABELS["type"],
        choices=[(name, MEDIA_TYPE_LABELS[name]) for name in reports.MEDIA_TYPES],
    )
    direction = FilterField(
        label=FIELD_LABELS["direction"],
        choices=[("", "Both"), *((name, name.capitalize()) for name in reports.DIRECTIONS)],
    )
    # Choices from the queue directory, set per form; without them the form takes ids as text.
    queue = MultiFilterField(label=FIELD_LABELS["queue"])
    view = FilterField(label=FIELD_LABELS["view"], initial=reports.DEFAULT_VIEW)
    group = FilterField(
        label=FIELD_LABELS["group"],
        choices=[("", "None"), *((name, GROUP_LABELS[name]) for name in reports.GROUPS)],
    )
    source = FilterField(label=FIELD_LABELS["source"])
    # Page options, not report filters.
    auto = AutoRefreshField(label="Auto-refresh", choices=AUTO_REFRESH_CHOICES, initial=0)
    wall = WallField(label="Wall display", initial=False)
    compare = CompareField(
        label="Compare with",
        choices=[("", "Nothing"), *((k, v.capitalize()) for k, v in COMPARE_LABELS.items())],
    )

    def __init__(
        self,
        data: QueryDict,
        *,
        queue_choices: Sequence[tuple[str, str]] = (),
        now: datetime | None = None,
    ) -> None:
        super().__init__(data)
        self.query = data
        self.now = now
        self.spec: reports.ReportSpec | None = None
        # Like report_spec_build: dates without a range name are a custom range.
        self.fields["range"].initial = "custom" if data.get("start") else reports.DEFAULT_RANGE
        queue = self.fields["queue"]
        assert isinstance(queue, MultiFilterField)
        queue.choices = list(queue_choices)

    def clean(self) -> dict[str, Any]:
        queue = self.fields["queue"]
        assert isinstance(queue, MultiFilterField)
        try:
            self.spec = report_spec_from_query(
                self.query, now=self.now or datetime.now(UTC), queues=queue.choices
            )
            _readable_refuse(self.spec)
        except reports.ReportSpecError as exc:
            self.spec = None
            if exc.field in self.fields:
                self.add_error(exc.field, exc.message)
            else:  # no field to highlight: the banner names it
                self.add_error(None, f"{exc.field}: {exc.message}")
        return self.cleaned_data

    def selected_queue_ids(self) -> list[str]:
        """The queues the request names (by id or name), as ids, for the picker to tick."""
        queue = self.fields["queue"]
        assert isinstance(queue, MultiFilterField)
        ids = {queue_id for queue_id, _ in queue.choices}
        by_name = {name.casefold(): queue_id for queue_id, name in queue.choices}
        values = self["queue"].value()
        return [v if v in ids else by_name.get(v.casefold(), v) for v in values]

    def error_summary(self) -> str:
        """The error as the banner and the refresh message say it: "Time zone: unknown ..."."""
        for field in self:
            if field.errors:
                return f"{field.label}: {field.errors[0]}"
        return " ".join(str(error) for error in self.non_field_errors())


# --- The admin's saved report -------------------------------------------------------------------

# The filters a saved report keeps, in the page's order (auto and wall are page options).
SAVED_REPORT_FILTERS = (
    "range",
    "start",
    "end",
    "granularity",
    "tz",
    "type",
    "direction",
    "queue",
    "view",
    "group",
    "source",
)
# Filters of several values: stored as a list, as a repeated query parameter.
_MULTI_FILTERS = ("type", "queue")


def _saved_filter(
    name: str,
    widget: type[forms.Widget] = forms.TextInput,
    *,
    initial: str = "",
    blank: str | None = None,
    choices: Sequence[tuple[str, str]] | None = None,
    help_text: str = "",
) -> forms.Field:
    """The page's filter `name` (its label, and its choices unless given) as an admin field,
    drawn by `widget`.

    Like the page's fields it validates nothing: SavedReportForm.clean runs the dashboard's own
    form over all the filters at once.
    """
    page_field = ReportFilterForm.base_fields[name]
    assert isinstance(page_field, FilterField)
    if choices is None:
        choices = [choice for choice in page_field.choices if choice[0] != ""]
    if blank is not None:
        choices = [("", blank), *choices]
    drawn = widget(choices=choices) if issubclass(widget, ChoiceWidget) else widget()
    return forms.Field(
        required=False, label=page_field.label, widget=drawn, initial=initial, help_text=help_text
    )


def _param_text(value: object) -> str:
    """A stored filter value as a single-value field shows it (a stored list, comma-joined)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def _param_list(value: object) -> list[str]:
    """A filter of several values as a list of text: a stored list, or comma-separated text."""
    items = value if isinstance(value, list) else [value]
    return [
        part.strip()
        for item in items
        if item is not None
        for part in str(item).split(",")
        if part.strip()
    ]


class SavedReportForm(forms.ModelForm):
    """A saved report in the admin: its filters as the dashboard's own fields, refused on save
    (the bad one named) exactly as the dashboard would refuse them.

    `params` keeps the stored format, query-string values by parameter name, with blank filters
    left out: a saved report without a time zone or source follows REPORT_DEFAULT_TIME_ZONE and
    ANALYTICS_SOURCE, as the dashboard's default view does.
    """

    range = _saved_filter("range", forms.Select, initial=reports.DEFAULT_RANGE)
    start = _saved_filter("start", help_text="Custom dates only: YYYY-MM-DD or ISO 8601.")
    end = _saved_filter("end", help_text="Custom dates only: the last day, included.")
    granularity = _saved_filter("granularity", forms.Select, initial=reports.DEFAULT_GRANULARITY)
    tz = _saved_filter(
        "tz", help_text="An IANA name (Europe/London); blank: REPORT_DEFAULT_TIME_ZONE."
    )
    type = _saved_filter("type", forms.CheckboxSelectMultiple, help_text="None ticked: all.")
    direction = _saved_filter("direction", forms.Select, blank="Both")
    queue = _saved_filter("queue")  # drawn in __init__, once the queue names are known
    view = _saved_filter("view", help_text=f"A GraphQL view id; blank: {reports.DEFAULT_VIEW}.")
    group = _saved_filter("group", forms.Select, blank="None (one row per bucket)")
    source = _saved_filter(
        "source",
        forms.Select,
        blank="Default (ANALYTICS_SOURCE)",
        choices=[(name, name) for name in reports.SOURCES],
    )

    class Meta:
        model = SavedReport
        fields = ("name", "enabled", "refresh_seconds", "next_due_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params: dict[str, str | list[str]] = {}
        stored = self.instance.params if self.instance.pk else None
        if isinstance(stored, dict):
            for name in SAVED_REPORT_FILTERS:
                if name in stored:
                    value = stored[name]
                    self.initial[name] = (
                        _param_list(value) if name in _MULTI_FILTERS else _param_text(value)
                    )
        for name in ("range", "granularity", "direction", "group", "source"):
            widget = self.fields[name].widget
            assert isinstance(widget, forms.Select)
            value = self.initial.get(name)
            # A stored value the choices lack is shown back, to be fixed, not silently replaced.
            if value is not None and value not in {choice for choice, _ in widget.choices}:
                widget.choices = [*widget.choices, (value, value)]
        self._queue_widget_set()

    def _queue_widget_set(self) -> None:
        field = self.fields["queue"]
        saved = self.initial.get("queue", [])
        choices = services.queue_choices()
        if not choices:
            # No directory yet (a worker loads it within a minute): the ids as text.
            field.widget = forms.TextInput()
            field.help_text = "Queue ids, comma-separated; blank: every queue."
            if saved:
                self.initial["queue"] = ", ".join(saved)
            return
        # Keep a saved queue selectable even if the directory no longer lists it.
        known = {queue_id for queue_id, _ in choices}
        choices += [(queue_id, queue_id) for queue_id in saved if queue_id not in known]
        field.widget = forms.SelectMultiple(choices=choices)
        field.help_text = "None selected: every queue."

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        params: dict[str, str | list[str]] = {}
        for name in SAVED_REPORT_FILTERS:
            value = cleaned.get(name)
            if name in _MULTI_FILTERS:
                values = _param_list(value)
                if values:
                    params[name] = values
            elif text := _param_text(value).strip():
                params[name] = text
        query = QueryDict(mutable=True)
        for name, value in params.items():
            query.setlist(name, value if isinstance(value, list) else [value])
        filters = ReportFilterForm(query, queue_choices=services.queue_choices())
        if filters.is_valid():
            self.params = params
        for name, errors in filters.errors.items():
            for error in errors:
                self.add_error(name if name in self.fields else None, error)
        return cleaned

    def save(self, commit: bool = True) -> SavedReport:
        self.instance.params = self.params
        return super().save(commit)
