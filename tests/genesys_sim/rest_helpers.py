"""Fixtures and readers for the simulated org's REST tests: post a query, page the details, and
turn answers into (metric, value, emitted, dimensions) records that tests can add up."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from genesys_sim import org

AGGREGATES_URL = "/sim/api/v2/analytics/conversations/aggregates/query"
DETAILS_URL = "/sim/api/v2/analytics/conversations/details/query"
QUEUES_URL = "/sim/api/v2/routing/queues"
USERS_URL = "/sim/api/v2/users"
MAY = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture
def aggregates(client, token):
    """POST an aggregates query; returns its `results` (and fails on anything but a 200)."""

    def post(**body: Any) -> list[dict[str, Any]]:
        response = client.post(
            AGGREGATES_URL,
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.content
        return response.json()["results"]

    return post


@pytest.fixture
def details(client, token):
    """POST a details query; returns the answer body."""

    def post(**body: Any) -> dict[str, Any]:
        response = client.post(
            DETAILS_URL,
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.content
        return response.json()

    return post


@pytest.fixture
def details_all(details):
    """Every conversation of a details query, paged 100 at a time until a page has none."""

    def fetch(**body: Any) -> list[dict[str, Any]]:
        found, number = [], 1
        while True:
            page = details(**body, paging={"pageSize": 100, "pageNumber": number})
            if "conversations" not in page:
                assert page["totalHits"] == len(found)
                return found
            found += page["conversations"]
            number += 1

    return fetch


def ms(text: str) -> int:
    return org.to_ms(datetime.fromisoformat(text))


def iso(moment_ms: int) -> str:
    moment = datetime.fromtimestamp(moment_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Record:
    """One metric of a details session, with the dimensions the aggregates group it by."""

    name: str
    value: int
    emit_ms: int
    media_type: str
    direction: str
    queue_id: str | None  # the queueId on the session's segments
    user_id: str | None  # the participant's userId
    purpose: str


def detail_records(conversations: Iterable[dict[str, Any]]) -> list[Record]:
    records = []
    for conversation in conversations:
        for participant in conversation["participants"]:
            for session in participant["sessions"]:
                queues = {s["queueId"] for s in session["segments"] if "queueId" in s}
                assert len(queues) <= 1
                for metric in session.get("metrics", []):
                    records.append(
                        Record(
                            metric["name"],
                            metric["value"],
                            ms(metric["emitDate"]),
                            session["mediaType"],
                            conversation["originatingDirection"],
                            next(iter(queues), None),
                            participant.get("userId"),
                            participant["purpose"],
                        )
                    )
    return records


def stats_by(
    results: list[dict[str, Any]], *, by_interval: bool = False
) -> dict[tuple, dict[str, dict[str, Any]]]:
    """(group items[, interval]) -> metric -> stats, from an aggregates answer."""
    found: dict[tuple, dict[str, dict[str, Any]]] = {}
    for result in results:
        group = tuple(sorted(result["group"].items()))
        for item in result["data"]:
            key = (group, item["interval"]) if by_interval else (group,)
            metrics = found.setdefault(key, {})
            for metric in item["metrics"]:
                assert metric["metric"] not in metrics
                metrics[metric["metric"]] = metric["stats"]
    return found


def metric_totals(stats_by_metric: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """metric -> {count, sum} of one bucket's stats; oServiceLevel as {denominator, numerator}."""
    found = {}
    for name, stats in stats_by_metric.items():
        if "denominator" in stats:
            found[name] = {"count": stats["denominator"], "sum": stats["numerator"]}
        else:
            found[name] = {"count": stats["count"], "sum": stats.get("sum", stats["count"])}
    return found


def totals(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """metric -> its count and sum over every group and bucket of an aggregates answer."""
    found: dict[str, dict[str, float]] = defaultdict(lambda: {"count": 0, "sum": 0})
    for result in results:
        for item in result["data"]:
            bucket = metric_totals({m["metric"]: m["stats"] for m in item["metrics"]})
            for name, stats in bucket.items():
                found[name]["count"] += stats["count"]
                found[name]["sum"] += stats["sum"]
    return dict(found)


def records_as_aggregates(records: Iterable[Record]) -> dict[str, dict[str, float]]:
    """What the aggregates should answer for these detail records, metric by metric: tWait is
    the details' tAcd, and oServiceLevel is rebuilt from the queue session's metrics as the
    org's service-level settings say (numerator: answered within the level; denominator:
    answered + abandoned, less what the settings leave out)."""
    found: dict[str, dict[str, float]] = defaultdict(lambda: {"count": 0, "sum": 0})
    level = {"count": 0, "sum": 0}
    for record in records:
        names = [record.name] + (["tWait"] if record.name == "tAcd" else [])
        for name in names:
            found[name]["count"] += 1
            found[name]["sum"] += record.value
        if record.name == "tAcd":  # offered: answered within the level, until shown otherwise
            level["count"] += 1
            level["sum"] += 1
        elif record.name in ("nOverSla", "tAbandon"):
            level["sum"] -= 1
        elif record.name == "tShortAbandon" and not org.SERVICE_LEVEL_COUNTS_SHORT_ABANDONS:
            level["count"] -= 1
        elif record.name == "tFlowOut":
            level["sum"] -= 1
            level["count"] -= not org.SERVICE_LEVEL_COUNTS_FLOW_OUTS
    if level["count"]:
        found["oServiceLevel"] = level
    return dict(found)


def day_text(day: datetime) -> str:
    return f"{iso(org.to_ms(day))}/{iso(org.to_ms(day + timedelta(days=1)))}"


def first_day_nothing_crosses() -> datetime:
    """The first day of May 2024 whose edges no conversation crosses (from its start to its
    last metric), at the volume the test set."""
    for number in range(31):
        day = MAY + timedelta(days=number)
        edges = (org.to_ms(day), org.to_ms(day + timedelta(days=1)))
        around = org.iter_conversations(start=day - timedelta(days=1), end=day + timedelta(days=1))
        if not any(c.start_ms < edge <= c.last_emit_ms for c in around for edge in edges):
            return day
    raise AssertionError("no day of May 2024 is free of conversations crossing its edges")


@pytest.fixture
def quiet_org(settings):
    # Few enough conversations a day that some days have none crossing midnight.
    settings.GENESYS_SIM_CONVERSATIONS_PER_DAY = 500
