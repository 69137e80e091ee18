"""The drill-down page: the conversations behind a bucket or a row, fetched by a worker like any
report, 50 to a page, exported as CSV, each linked to Genesys Cloud's interaction view."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import orjson
from django.http import QueryDict
from django.test import Client

from analytics_worker import reports
from dashboard import drilldown
from dashboard.forms import report_spec_from_query
from tests.dashboard.helpers import DAY_QUERY, put_report
from tests.helpers import enqueued_jobs

AT = "2024-11-02T10:00:00-05:00"
QUERY = DAY_QUERY + "&at=" + AT.replace("+", "%2B")


def drill_spec(query: str = QUERY) -> reports.ReportSpec:
    return report_spec_from_query(
        QueryDict(query), now=datetime(2024, 11, 10, tzinfo=UTC), drill=True
    )


def listing(count: int, *, more: bool = False) -> dict:
    spec = drill_spec()
    return {
        "key": spec.key,
        "spec": spec.to_dict(),
        "source": "details",
        "conversations": [
            {
                "id": f"c-{n:04d}",
                "start": f"2024-11-02T15:{n // 60 % 60:02d}:{n % 60:02d}.000Z",
                "media": "voice",
                "direction": "inbound",
                "queue_ids": ["q-1"],
                "user_ids": ["u-1"] if n % 2 else [],
                "wait": 12.0,
                "talk": 95.0 if n % 2 else None,
                "hold": 0.0 if n % 2 else None,
                "acw": 20.0 if n % 2 else None,
                "outcomes": ["answered"] if n % 2 else ["abandoned"],
            }
            for n in range(count)
        ],
        "more": more,
    }


def test_a_bucket_not_yet_listed_is_fetched_by_a_worker_with_its_progress_shown(
    client_alice: Client, enqueued
):
    response = client_alice.get("/conversations?" + QUERY)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="job-panel"' in html and "Loading the conversations" in html
    [(key, _job)] = enqueued_jobs(enqueued)
    spec = drill_spec()
    assert key == spec.key and spec.listing and spec.source == "details"
    # Its bucket, in the report's zone, is what the page says it lists.
    assert "Sat 02 Nov 10:00–11:00 (America/Chicago)" in html


def test_a_listed_bucket_pages_by_50_and_links_each_conversation_to_genesys(
    client_alice: Client, enqueued, settings
):
    settings.GENESYS_APPS_URL = "https://apps.mypurecloud.ie"
    put_report(drill_spec(), payload=listing(120))
    html = client_alice.get("/conversations?" + QUERY).content.decode()
    assert "120 conversations" in html
    assert html.count("<tr>") == 50 + 1  # the heading's row
    assert "1–50 of 120" in html and "Next 50" in html and "Previous 50" not in html
    assert 'href="https://apps.mypurecloud.ie/directory/#/engage/admin/interactions/c-0001"' in html
    # Times in the report's zone (15:00Z is 10:00 in Chicago).
    assert "Sat 02 Nov 10:00:01" in html
    last = client_alice.get("/conversations?" + QUERY + "&page=3").content.decode()
    assert "101–120 of 120" in last and "Next 50" not in last
    assert enqueued_jobs(enqueued) == []


def test_a_capped_listing_says_so(client_alice: Client, enqueued):
    put_report(drill_spec(), payload=listing(30, more=True))
    html = client_alice.get("/conversations?" + QUERY).content.decode()
    assert "The first 30 conversations" in html
    assert "Only the first 30 are listed" in html


def test_the_export_holds_every_listed_row_with_ids_beside_names(client_alice: Client):
    put_report(drill_spec(), payload=listing(60))
    response = client_alice.get("/conversations.csv?" + QUERY)
    assert response.status_code == 200
    assert response["Cache-Control"].count("no-store") == 1
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 60
    assert list(rows[1]) == list(drilldown.EXPORT_COLUMNS)
    assert rows[1]["start"] == "2024-11-02 10:00:01"
    assert rows[1]["start_utc"] == "2024-11-02T15:00:01+00:00"
    assert (rows[1]["talk_s"], rows[1]["outcome"], rows[0]["outcome"]) == (
        "95.0",
        "answered",
        "abandoned",
    )
    assert rows[1]["queue_ids"] == "q-1" and rows[1]["user_ids"] == "u-1"


def test_the_export_never_starts_a_fetch(client_alice: Client, enqueued):
    response = client_alice.get("/conversations.csv?" + QUERY)
    assert response.status_code == 409
    assert enqueued_jobs(enqueued) == []


def test_what_is_not_a_bucket_of_the_report_is_a_400_that_says_which(client_alice: Client):
    response = client_alice.get("/conversations?" + DAY_QUERY + "&at=2024-11-02T10:10:00-05:00")
    assert response.status_code == 400
    assert "Bucket:" in response.content.decode()
    response = client_alice.get("/conversations.csv?" + DAY_QUERY + "&member=q-1")
    assert response.status_code == 400
    assert orjson.loads(response.content)["field"] == "member"
