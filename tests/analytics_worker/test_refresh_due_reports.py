from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from analytics_worker import cache, periodic_tasks, services
from analytics_worker.models import SavedReport
from analytics_worker.reports import report_spec_build

pytestmark = pytest.mark.django_db

NOW = datetime(2024, 5, 1, 12, 7, tzinfo=UTC)


@pytest.fixture(autouse=True)
def no_default_reports():
    SavedReport.objects.all().delete()


def saved(name="r", *, due=NOW, **fields):
    return SavedReport.objects.create(name=name, next_due_at=due, **fields)


def tick(now=NOW) -> int:
    with time_machine.travel(now, tick=False):
        return periodic_tasks.refresh_due_reports_task.apply().get()


def test_it_ships_the_default_reports(no_default_reports, django_db_setup):
    from importlib import import_module

    migration = import_module("analytics_worker.migrations.0002_default_saved_reports")
    names = [name for name, _, _ in migration.DEFAULT_REPORTS]
    assert names[0] == "Last 24 hours, all queues, 30 min"
    assert migration.DEFAULT_REPORTS[0][1] == {"range": "last_24h", "granularity": "PT30M"}


def test_it_enqueues_each_due_report_once(enqueued):
    saved("a", params={"range": "today"})
    saved("b", params={"range": "last_7d", "granularity": "P1D"})
    saved("later", due=NOW + timedelta(minutes=5))
    saved("off", enabled=False)
    assert tick() == 2
    assert enqueued.call_count == 2
    assert tick(NOW + timedelta(seconds=30)) == 0


def test_it_uses_the_same_key_as_the_web(enqueued, settings):
    settings.REPORT_DEFAULT_TIME_ZONE = "Europe/Paris"
    report = saved(params={"range": "last_24h"})
    tick()
    report.refresh_from_db()
    web = report_spec_build(
        params={}, now=NOW + timedelta(minutes=3), default_time_zone="Europe/Paris"
    )
    assert report.last_report_key == web.key
    assert enqueued.call_args.kwargs["kwargs"]["spec"] == web.to_dict()


def test_it_skips_a_report_that_is_still_fresh(enqueued):
    report = saved(params={"range": "last_24h"})
    spec = services.saved_report_spec(report, now=NOW)
    cache.result_put(
        report_key=spec.key, payload=b"{}", as_of=time.time(), fresh_seconds=600, ttl_seconds=600
    )
    assert tick() == 0
    enqueued.assert_not_called()


def test_a_report_missed_for_an_hour_is_fetched_once(enqueued):
    saved(params={"range": "last_24h"}, refresh_seconds=120, due=NOW - timedelta(hours=1))
    assert tick() == 1
    assert tick(NOW + timedelta(seconds=60)) == 0
    report = SavedReport.objects.get()
    assert report.next_due_at == NOW + timedelta(seconds=120)


def test_bad_saved_filters_are_recorded_not_fatal(enqueued):
    saved("bad", params={"granularity": "PT7M"})
    saved("good", params={})
    assert tick() == 1
    bad = SavedReport.objects.get(name="bad")
    assert "granularity" in bad.last_error
    assert bad.enabled
    assert bad.consecutive_failures == 1


def test_an_admin_refresh_fetches_even_a_fresh_report(enqueued):
    report = saved(params={})
    with time_machine.travel(NOW, tick=False):
        spec = services.saved_report_spec(report, now=NOW)
        cache.result_put(
            report_key=spec.key,
            payload=b"{}",
            as_of=time.time(),
            fresh_seconds=600,
            ttl_seconds=600,
        )
        job_id = services.saved_report_refresh(report=report, now=NOW)
    assert job_id
    enqueued.assert_called_once()
    report.refresh_from_db()
    assert report.last_report_key == spec.key
