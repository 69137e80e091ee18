from __future__ import annotations

import csv
import io
from datetime import datetime

import orjson
import pytest
from django.test import Client

from tests.dashboard.helpers import DAY_QUERY, DST_DAY_QUERY, put_report, spec_from_query
from tests.helpers import enqueued_jobs

pytestmark = pytest.mark.django_db

DAY_QUERY_30 = DAY_QUERY.replace("granularity=PT1H", "granularity=PT30M")


def read_csv(content: bytes) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The description block (`# name: value` lines) and the rows."""
    lines = content.decode().splitlines()
    meta = dict(line[2:].split(": ", 1) for line in lines if line.startswith("# "))
    table = [line for line in lines if not line.startswith("# ")]
    return meta, list(csv.DictReader(io.StringIO("\n".join(table))))


@pytest.mark.parametrize("path", ["/export.csv", "/export.json", "/export.xlsx"])
def test_it_requires_login(client: Client, path: str) -> None:
    response = client.get(path + "?" + DAY_QUERY)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_exports_csv_that_says_what_it_is_and_its_units(client_alice: Client) -> None:
    put_report(spec_from_query(DAY_QUERY_30))
    response = client_alice.get("/export.csv?" + DAY_QUERY_30)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="report_2024-11-02T0000-0500_2024-11-03T0000-0500_PT30M.csv"'
    )
    meta, rows = read_csv(response.content)
    assert meta["report"] == "All queues · all media · inbound and outbound · aggregates source"
    assert meta["time_zone"] == "America/Chicago" and meta["granularity"] == "PT30M"
    assert meta["range"].startswith("Sat 2 Nov 00:00 – Sun 3 Nov 00:00")
    assert "_s: seconds" in meta["units"]
    assert len(rows) == 48 + 1  # and the total row
    # Units in the names: seconds _s, percentages _pct.
    assert {"wait_sum_s", "avg_wait_s", "asa_s", "aht_s", "abandon_pct"} <= set(rows[0])
    assert "avg_wait" not in rows[0] and "wait_sum" not in rows[0]
    # Local times a spreadsheet parses, the UTC instant beside them.
    assert (rows[0]["start"], rows[0]["end"]) == ("2024-11-02 00:00:00", "2024-11-02 00:30:00")
    assert rows[0]["start_utc"] == "2024-11-02T05:00:00Z"
    first = rows[0]
    assert float(first["avg_duration_s"]) == pytest.approx(
        float(first["duration_sum_s"]) / float(first["duration_count"]), abs=0.001
    )
    # Fields the GraphQL source does not give stay empty rather than 0.
    assert first["offered"] == "" and first["service_level_pct"] == ""
    total = rows[-1]
    assert total["start"] == "total" and total["start_utc"] == ""
    assert int(total["conversations"]) == sum(int(r["conversations"]) for r in rows[:-1])
    # The total's averages are from the summed counts, not a mean of the rows'.
    waits = sum(float(r["wait_sum_s"]) for r in rows[:-1])
    counted = sum(int(r["wait_count"]) for r in rows[:-1])
    assert float(total["avg_wait_s"]) == pytest.approx(waits / counted, abs=0.001)


def test_it_keeps_each_buckets_own_instant_across_dst(client_alice: Client) -> None:
    put_report(spec_from_query(DST_DAY_QUERY), contact_centre=True)
    response = client_alice.get("/export.csv?" + DST_DAY_QUERY)
    _meta, rows = read_csv(response.content)
    assert len(rows) == 25 + 1
    # The repeated 01:00 is two local rows told apart by their UTC instants.
    repeated = [row["start_utc"] for row in rows if row["start"] == "2024-11-03 01:00:00"]
    assert repeated == ["2024-11-03T06:00:00Z", "2024-11-03T07:00:00Z"]
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
    assert document["meta"]["time_zone"] == "America/Chicago"
    assert "aggregates source" in document["meta"]["report"]
    assert len(document["rows"]) == 24 + 1
    assert document["columns"] == list(document["rows"][0])
    row = document["rows"][10]
    assert (row["start"], row["start_utc"]) == ("2024-11-02 10:00:00", "2024-11-02T15:00:00Z")
    assert row["abandon_pct"] == pytest.approx(100 * row["abandoned"] / row["offered"], abs=0.001)
    assert row["aht_s"] == pytest.approx(row["handle_sum_s"] / row["handle_count"], abs=0.001)
    assert row["asa_s"] == pytest.approx(row["answer_sum_s"] / row["answered"], abs=0.001)
    assert row["avg_duration_s"] is None  # the aggregates source has no duration
    assert document["totals"]["conversations"] == sum(
        r["conversations"] for r in document["rows"][:-1]
    )
    assert document["rows"][-1]["conversations"] == document["totals"]["conversations"]


def test_it_exports_xlsx_with_the_same_content_in_typed_cells(client_alice: Client) -> None:
    from openpyxl import load_workbook

    put_report(spec_from_query(DAY_QUERY), contact_centre=True)
    response = client_alice.get("/export.xlsx?" + DAY_QUERY)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert response["Content-Disposition"].endswith('PT1H.xlsx"')
    sheet = load_workbook(io.BytesIO(response.content)).active
    cells = [[cell.value for cell in row] for row in sheet.iter_rows()]
    header_at = next(i for i, row in enumerate(cells) if row[0] == "start")
    meta = {row[0]: row[1] for row in cells[:header_at] if row[0]}
    assert meta["time_zone"] == "America/Chicago"
    header, rows = cells[header_at], cells[header_at + 1 :]
    as_json = orjson.loads(client_alice.get("/export.json?" + DAY_QUERY).content)
    assert header == as_json["columns"]
    assert len(rows) == len(as_json["rows"])
    first = dict(zip(header, rows[0], strict=True))
    assert first["start"] == datetime(2024, 11, 2, 0, 0)  # a date cell, not text
    # Numbers as numbers (a whole 300.0 s reads back as the number 300).
    assert isinstance(first["offered"], int) and isinstance(first["aht_s"], int | float)
    assert first["complete"] is True
    assert dict(zip(header, rows[-1], strict=True))["start"] == "total"


def test_a_breakdowns_export_names_it_in_the_file_name(client_alice: Client, monkeypatch) -> None:
    from analytics_worker import services

    monkeypatch.setattr(services, "queue_choices", lambda: [("q-1", "Sales & Co")])
    query = DAY_QUERY + "&group=media&queue=q-1"
    spec = spec_from_query(query)
    put_report(spec, contact_centre=True)
    response = client_alice.get("/export.csv?" + query)
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        'attachment; filename="report_by_media_Sales-Co_2024-11-02T0000-0500_'
        '2024-11-03T0000-0500_PT1H.csv"'
    )
    meta, rows = read_csv(response.content)
    assert meta["report"].startswith("Sales & Co · all media")
    assert rows[-1]["name"] == "Total"


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
