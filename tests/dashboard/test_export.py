from __future__ import annotations

import csv
import io

import orjson
import pytest
from django.test import Client

from dashboard.kpis import EXPORT_COLUMNS
from tests.dashboard.helpers import DAY_QUERY, DST_DAY_QUERY, put_report, spec_from_query
from tests.helpers import enqueued_jobs

pytestmark = pytest.mark.django_db

DAY_QUERY_30 = DAY_QUERY.replace("granularity=PT1H", "granularity=PT30M")


def read_csv(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode())))


@pytest.mark.parametrize("path", ["/export.csv", "/export.json"])
def test_it_requires_login(client: Client, path: str) -> None:
    response = client.get(path + "?" + DAY_QUERY)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_exports_csv_with_the_reports_range_in_the_file_name(client_alice: Client) -> None:
    put_report(spec_from_query(DAY_QUERY_30))
    response = client_alice.get("/export.csv?" + DAY_QUERY_30)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="report_2024-11-02T0000-0500_2024-11-03T0000-0500_PT30M.csv"'
    )
    rows = read_csv(response.content)
    assert len(rows) == 48
    assert tuple(rows[0]) == EXPORT_COLUMNS
    assert rows[0]["start"] == "2024-11-02T00:00:00-05:00"
    assert rows[0]["end"] == "2024-11-02T00:30:00-05:00"
    assert rows[-1]["end"] == "2024-11-03T00:00:00-05:00"
    first = rows[0]
    assert float(first["avg_duration"]) == pytest.approx(
        float(first["duration_sum"]) / float(first["duration_count"]), abs=0.001
    )
    assert float(first["avg_wait"]) == pytest.approx(
        float(first["wait_sum"]) / float(first["wait_count"]), abs=0.001
    )
    # Fields the GraphQL source does not give stay empty rather than 0.
    assert first["offered"] == "" and first["service_level_pct"] == ""


def test_it_keeps_each_buckets_own_offset_across_dst(client_alice: Client) -> None:
    put_report(spec_from_query(DST_DAY_QUERY), contact_centre=True)
    response = client_alice.get("/export.csv?" + DST_DAY_QUERY)
    rows = read_csv(response.content)
    assert len(rows) == 25
    starts = [row["start"] for row in rows]
    assert "2024-11-03T01:00:00-05:00" in starts and "2024-11-03T01:00:00-06:00" in starts
    assert response["Content-Disposition"].endswith(
        'filename="report_2024-11-03T0000-0500_2024-11-04T0000-0600_PT1H.csv"'
    )
    assert float(rows[0]["service_level_pct"]) == pytest.approx(
        100 * float(rows[0]["sl_numerator"]) / float(rows[0]["sl_denominator"]), abs=0.001
    )


def test_it_exports_json(client_alice: Client) -> None:
    put_report(spec_from_query(DAY_QUERY), contact_centre=True)
    response = client_alice.get("/export.json?" + DAY_QUERY)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == (
        'attachment; filename="report_2024-11-02T0000-0500_2024-11-03T0000-0500_PT1H.json"'
    )
    document = orjson.loads(response.content)
    assert document["time_zone"] == "America/Chicago"
    assert document["columns"] == list(EXPORT_COLUMNS)
    assert len(document["rows"]) == 24
    row = document["rows"][10]
    assert row["start"] == "2024-11-02T10:00:00-05:00"
    assert row["abandon_pct"] == pytest.approx(100 * row["abandoned"] / row["offered"], abs=0.001)
    assert row["aht"] == pytest.approx(row["handle_sum"] / row["handle_count"], abs=0.001)
    assert row["asa"] == pytest.approx(row["answer_sum"] / row["answered"], abs=0.001)
    assert row["avg_duration"] is None  # the aggregates source has no duration
    assert document["totals"]["conversations"] == sum(r["conversations"] for r in document["rows"])


def test_it_answers_409_on_a_miss(client_alice: Client, enqueued) -> None:
    response = client_alice.get("/export.csv?" + DAY_QUERY)
    assert response.status_code == 409
    assert "not loaded yet" in response.json()["error"]
    # A download link never starts a fetch.
    assert enqueued_jobs(enqueued) == []


def test_it_rejects_bad_input(client_alice: Client) -> None:
    response = client_alice.get("/export.json?direction=up")
    assert response.status_code == 400
    assert response.json()["field"] == "direction"


def test_it_answers_503_when_redis_is_down(client_alice: Client, redis_down) -> None:
    response = client_alice.get("/export.csv?" + DAY_QUERY)
    assert response.status_code == 503
    assert "Redis" in response.json()["error"]
