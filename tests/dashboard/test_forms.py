"""dashboard/forms.py: what the filter form shows, and where report_spec_build's error goes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.http import QueryDict

from analytics_worker import reports
from dashboard.forms import FIELD_LABELS, ReportFilterForm
from tests.dashboard.helpers import DAY_QUERY

NOW = datetime(2024, 11, 5, 15, 0, tzinfo=UTC)


def form_for(query: str, **kwargs) -> ReportFilterForm:
    return ReportFilterForm(QueryDict(query), now=NOW, **kwargs)


def test_it_shows_the_defaults(settings) -> None:
    settings.REPORT_DEFAULT_TIME_ZONE = "Europe/Paris"
    form = form_for("")
    shown = {name: form[name].value() for name in form.fields}
    assert shown == {
        "range": reports.DEFAULT_RANGE,
        "start": "",
        "end": "",
        "granularity": reports.DEFAULT_GRANULARITY,
        "tz": "Europe/Paris",
        "type": [],
        "direction": "",
        "queue": [],
        "view": reports.DEFAULT_VIEW,
        "group": "",
        "source": "",
        "auto": 0,
        "wall": False,
        "compare": "",
    }


def test_it_shows_the_requests_own_values() -> None:
    form = form_for("start=2024-11-02&type=voice&type=chat,email&queue=q-1,%20q-2&auto=5&wall=1")
    assert form["range"].value() == "custom"  # dates without a range name
    assert form["type"].value() == ["voice", "chat", "email"]
    assert form["queue"].value() == ["q-1", "q-2"]
    assert form["auto"].value() == 5
    assert form["wall"].value() is True
    assert form_for("auto=7")["auto"].value() == 0  # not a choice: off
    assert form_for("auto=soon")["auto"].value() == 0


def test_it_builds_the_spec_with_report_spec_build(settings) -> None:
    form = form_for(DAY_QUERY)
    assert form.is_valid()
    expected = reports.report_spec_build(
        params=dict(QueryDict(DAY_QUERY).lists()),
        now=NOW,
        default_time_zone=settings.REPORT_DEFAULT_TIME_ZONE,
    )
    assert form.spec == expected
    assert form.errors == {}


@pytest.mark.parametrize(
    ("query", "field"),
    [("range=fortnight", "range"), ("tz=Mars/Olympus", "tz"), ("type=fax", "type")],
)
def test_it_puts_the_error_on_the_field_it_names(query: str, field: str) -> None:
    form = form_for(query)
    assert not form.is_valid()
    assert form.spec is None
    assert list(form.errors) == [field]  # report_spec_build's one error, no other check
    message = form.errors[field][0]
    assert form.error_summary() == f"{FIELD_LABELS[field]}: {message}"
    assert form[field].error_id == f"error-{field}"
    assert form[field].invalid_attrs == (f' aria-invalid="true" aria-describedby="error-{field}"')
    # The rejected value is shown back, to be fixed.
    assert form["range"].value() in ("fortnight", reports.DEFAULT_RANGE)


def test_it_ties_no_attributes_to_a_field_without_error() -> None:
    form = form_for("tz=Mars/Olympus")
    form.is_valid()
    assert form["view"].invalid_attrs == ""


QUEUES = [("q-1", "Sales"), ("q-2", "Support")]


def test_it_refuses_a_queue_the_directory_does_not_know_by_name() -> None:
    # A bookmarked queue since deleted (or mistyped) would fetch nothing: a quiet zero.
    form = form_for("queue=q-2,q-9", queue_choices=QUEUES)
    assert not form.is_valid()
    assert "'q-9'" in form.errors["queue"][0]
    assert form.fields["queue"].choices == QUEUES
    # Without a directory the form takes ids as text: no choices at all, nothing to check.
    form = form_for("queue=q-9")
    assert form.fields["queue"].choices == [] and form.is_valid()


def test_it_takes_queues_by_name_as_well_as_by_id() -> None:
    form = form_for("queue=support,q-1", queue_choices=QUEUES)
    assert form.is_valid(), form.errors
    assert form.spec is not None and form.spec.queue_ids == ("q-1", "q-2")
    assert form.selected_queue_ids() == ["q-2", "q-1"]


def test_the_page_proposes_coarser_buckets_for_a_range_a_chart_cannot_show() -> None:
    # 31 days of 15 minutes is 2,976 bars: refused on the granularity, with what fits.
    form = form_for("range=custom&start=2024-05-01&end=2024-05-31&granularity=PT15M&tz=UTC")
    assert not form.is_valid()
    assert form.errors["granularity"] == [
        "2,976 buckets of 15 min are more than a chart shows readably (at most 1,000): choose "
        "1 hour buckets (744) or a shorter range"
    ]
    assert form.spec is None
    assert form_for("range=custom&start=2024-05-01&end=2024-05-31&granularity=PT1H").is_valid()
