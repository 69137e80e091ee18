"""The views keep each query string's report spec for the minute (dashboard.views._spec_build):
a poller's hit does not parse and check the same filters again. That is only right if a spec
depends on the clock through its minute alone, which the first test checks directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.test import Client, RequestFactory

from analytics_worker import reports
from dashboard import views
from tests.dashboard.helpers import DAY_QUERY, put_report, spec_from_query

pytestmark = pytest.mark.django_db

URL = "/api/report?" + DAY_QUERY


@pytest.mark.parametrize("range_name", ["today", "yesterday", "last_24h", "last_7d"])
@pytest.mark.parametrize("granularity", list(reports.GRANULARITY_MINUTES))
@pytest.mark.parametrize("time_zone", ["UTC", "America/Chicago", "Asia/Kathmandu"])
def test_a_spec_is_the_same_at_every_moment_of_its_minute(
    range_name: str, granularity: str, time_zone: str
) -> None:
    params = {"range": range_name, "granularity": granularity, "tz": time_zone}
    # Minutes on a bucket edge, one before it, and the hour DST ends in Chicago.
    for minute in (
        datetime(2024, 11, 3, 5, 59, tzinfo=UTC),
        datetime(2024, 11, 3, 6, 0, tzinfo=UTC),
        datetime(2024, 11, 3, 6, 29, tzinfo=UTC),
        datetime(2024, 11, 3, 7, 0, tzinfo=UTC),
        datetime(2025, 3, 9, 23, 59, tzinfo=UTC),
    ):
        specs = {
            _outcome(params, now=minute + offset)
            for offset in (
                timedelta(0),
                timedelta(microseconds=1),
                timedelta(seconds=30),
                # Not the minute's last microsecond: report_spec_build adds one to `now` (so
                # "today" at 00:00:00 is a bucket), which puts that one in the next minute.
                timedelta(seconds=59, microseconds=999_998),
            )
        }
        assert len(specs) == 1, f"{minute}: {specs}"


def _outcome(params: dict[str, str], *, now: datetime) -> reports.ReportSpec | str:
    """The spec, or the refusal (the same refusal at every moment of the minute, too)."""
    try:
        return reports.report_spec_build(params=params, now=now)
    except reports.ReportSpecError as exc:
        return str(exc)


def test_a_repeated_query_is_parsed_once_a_minute(client_alice: Client) -> None:
    put_report(spec_from_query(DAY_QUERY))
    views._spec_of_query.cache_clear()
    with mock.patch.object(
        views, "report_spec_from_query", wraps=views.report_spec_from_query
    ) as parse:
        for _ in range(3):
            assert client_alice.get(URL).status_code == 200
        assert parse.call_count == 1
        assert client_alice.get(URL + "&type=voice").status_code in (200, 202)
        assert parse.call_count == 2


def test_a_new_minute_resolves_a_relative_range_again() -> None:
    views._spec_of_query.cache_clear()

    def spec_at(moment: datetime) -> reports.ReportSpec:
        request = RequestFactory().get("/api/report", {"range": "today", "granularity": "PT30M"})
        with mock.patch.object(views, "datetime", wraps=datetime) as clock:
            clock.now.return_value = moment
            return views._spec_build(request)

    before = datetime(2024, 11, 2, 12, 29, 59, tzinfo=UTC)
    assert spec_at(before).end == datetime(2024, 11, 2, 12, 30, tzinfo=UTC)
    assert spec_at(before + timedelta(seconds=2)).end == datetime(2024, 11, 2, 13, 0, tzinfo=UTC)


def test_a_bad_query_is_refused_every_time(client_alice: Client) -> None:
    for _ in range(2):
        response = client_alice.get("/api/report?range=someday")
        assert response.status_code == 400
        assert response.json()["field"] == "range"


def test_a_changed_queue_list_checks_the_names_again(client_alice: Client) -> None:
    views._spec_of_query.cache_clear()
    query = DAY_QUERY + "&queue=Sales"
    with mock.patch.object(
        views.services, "queue_choices", return_value=[("q-1", "Sales"), ("q-2", "Support")]
    ):
        assert client_alice.get("/api/report?" + query).status_code in (200, 202)
    with mock.patch.object(views.services, "queue_choices", return_value=[("q-2", "Support")]):
        response = client_alice.get("/api/report?" + query)
    assert response.status_code == 400
    assert "Sales" in response.json()["error"]


def test_changed_settings_build_the_spec_again(client_alice: Client, settings) -> None:
    views._spec_of_query.cache_clear()
    query = "/api/report?range=yesterday"
    settings.REPORT_DEFAULT_TIME_ZONE = "UTC"
    client_alice.get(query)
    utc_spec = views._spec_of_query.cache_info().currsize
    settings.REPORT_DEFAULT_TIME_ZONE = "Asia/Tokyo"
    assert views._spec_of_query.cache_info().currsize == 0 < utc_spec


def test_specs_kept_share_one_copy_of_an_unchanged_queue_list() -> None:
    queues = [(f"q-{n}", f"Queue {n}") for n in range(1000)]
    first = views._queues_interned(tuple(queues))
    again = views._queues_interned(tuple((queue_id, name) for queue_id, name in queues))
    assert again is first
    renamed = views._queues_interned(tuple([("q-0", "Renamed"), *queues[1:]]))
    assert renamed is not first and renamed[0] == ("q-0", "Renamed")


def test_a_queue_filtered_hit_reads_the_queue_list_once(client_alice: Client) -> None:
    """report_read_first builds the spec before the view: the view reuses it, and the queue
    list (a Redis read) is not read a second time."""
    put_report(spec_from_query(DAY_QUERY + "&queue=q-1"))
    queues = [("q-1", "Sales")]
    with mock.patch.object(views.services, "queue_choices", return_value=queues) as read:
        assert client_alice.get("/api/report?" + DAY_QUERY + "&queue=Sales").status_code == 200
        read.reset_mock()
        assert client_alice.get("/api/report?" + DAY_QUERY + "&queue=Sales").status_code == 200
        assert read.call_count == 1
