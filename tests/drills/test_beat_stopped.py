"""Drill: beat is stopped for an hour (time travelled) and started again."""

from __future__ import annotations

import shelve
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics_worker.redis_client import beat_tick_key, redis_key
from tests.drills.stack import Stack
from tests.harness import wait_until

pytestmark = pytest.mark.drill

HOUR = timedelta(hours=1)
# One request per report (a week per request) keeps the drill about beat, not about paging.
AGGREGATES = {"ANALYTICS_SOURCE": "aggregates"}
NOT_DUE = "Not due for an hour"


def db_time(moment: datetime) -> str:
    # Django's SQLite backend stores aware datetimes as naive UTC text.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def saved_reports(db: Path) -> dict[str, sqlite3.Row]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM analytics_worker_savedreport").fetchall()
    return {row["name"]: row for row in rows}


def travel_an_hour(stack: Stack, schedule: Path) -> None:
    """Make it look as if beat stopped an hour ago: move back every time it left behind."""
    past = datetime.now(UTC) - HOUR
    with sqlite3.connect(stack.db_path) as conn:
        # Every saved report fell due an hour ago (60 missed minute ticks), but one.
        conn.execute("UPDATE analytics_worker_savedreport SET next_due_at = ?", [db_time(past)])
        conn.execute(
            "INSERT INTO analytics_worker_savedreport (name, params, refresh_seconds, enabled, "
            "next_due_at, last_report_key, last_error, consecutive_failures) "
            "VALUES (?, '{}', 120, 1, ?, '', '', 0)",
            [NOT_DUE, db_time(past + 2 * HOUR)],
        )
    with shelve.open(str(schedule)) as db:
        assert "entries" in db, "beat stopped without saving its schedule"
        entries = db["entries"]
        for entry in entries.values():
            entry.last_run_at -= HOUR
        db["entries"] = entries
    stack.cache().set(beat_tick_key(), time.time() - HOUR.total_seconds())


def test_due_reports_are_fetched_once_each_not_once_per_missed_tick(stack: Stack) -> None:
    schedule = stack.tmp / "celerybeat-schedule"
    stack.start_sim()
    stack.start_web()
    stack.start_worker(**AGGREGATES)
    # Beat runs, writes its schedule, and stops (SIGTERM: it saves the schedule on the way out).
    # "Starting" is logged before the schedule exists, and a beat stopped then leaves none
    # behind: wait for beat_init, which beat sends once its schedule is set up and saved (the
    # product records it as beat's first tick).
    stack.cache().delete(beat_tick_key())
    beat = stack.start_beat(schedule, name="beat1", **AGGREGATES)
    beat.wait_for(
        lambda: stack.cache().get(beat_tick_key()) is not None,
        what="beat to set up its schedule",
        timeout=30,
    )
    beat.stop()

    travel_an_hour(stack, schedule)
    health = stack.get("/healthz")
    assert health.status_code == 503
    assert health.json()["checks"]["beat"] == "last tick 3600 s ago"

    restarted = time.time()
    beat = stack.start_beat(schedule, name="beat2", **AGGREGATES)
    due = [name for name in saved_reports(stack.db_path) if name != NOT_DUE]
    assert len(due) == 3

    def all_fetched() -> bool:
        rows = saved_reports(stack.db_path)
        return all(rows[name]["last_success_at"] for name in due)

    wait_until(all_fetched, timeout=30, interval=0.3, what="the due reports to be fetched")
    time.sleep(2)  # room for any extra tick or fetch to show up

    log = beat.log_text()
    assert log.count("Sending due task refresh-due-reports") == 1, log
    rows = saved_reports(stack.db_path)
    keys = {rows[name]["last_report_key"] for name in due}
    assert len(keys) == 3
    jobs = [stack.cache().hgetall(key) for key in stack.cache().keys(redis_key("job", "*"))]
    fetch_jobs = [job for job in jobs if job.get(b"report_key")]
    # One fetch per due report, each done; none for the report that was not due.
    assert sorted(job[b"report_key"].decode() for job in fetch_jobs) == sorted(keys)
    assert {job[b"state"] for job in fetch_jobs} == {b"done"}
    assert rows[NOT_DUE]["last_enqueued_at"] is None
    for name in due:
        # Next due one interval after the tick that fetched it, not after the missed due time.
        next_due = datetime.fromisoformat(rows[name]["next_due_at"]).replace(tzinfo=UTC)
        interval = rows[name]["refresh_seconds"]
        assert restarted + interval - 5 <= next_due.timestamp() <= time.time() + interval
    health = stack.get("/healthz")
    assert health.status_code == 200, health.json()
