from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from analytics_worker import cache, periodic_tasks, services
from analytics_worker.models import SavedReport
from analytics_worker.reports import ReportSpecError, report_spec_build
from tests.helpers import enqueued_jobs

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


def test_a_report_whose_params_blow_up_is_recorded_and_the_tick_goes_on(enqueued):
    # {"granularity": 30} (a number, not a query-string value) raised a TypeError that stopped
    # every report after it, with nothing recorded.
    saved("a-bad", params={"granularity": 30}, refresh_seconds=120)
    saved("b-good", params={"range": "today"})
    assert tick() == 1
    bad = SavedReport.objects.get(name="a-bad")
    assert bad.last_error == (
        "Invalid filters: granularity: '30' is not allowed; choose one of PT15M, PT30M, PT1H, "
        "P1D. Fix them in the admin (Saved reports)."
    )
    assert bad.last_error_at == NOW
    assert bad.consecutive_failures == 1
    assert bad.next_due_at == NOW + timedelta(seconds=240)  # backed off: twice its interval
    assert SavedReport.objects.get(name="b-good").last_enqueued_at == NOW


@pytest.mark.parametrize(
    ("params", "error"),
    [
        (["range", "today"], "params: must be a JSON object of filters"),
        ("range=today", "params: must be a JSON object of filters"),
        ({"range": None}, "range: must be text or a list of text"),
        ({"type": [{"voice": True}]}, "type: must be text or a list of text"),
    ],
)
def test_params_that_are_not_query_string_filters_are_recorded(enqueued, params, error):
    saved("bad", params=params)
    saved("good", params={})
    assert tick() == 1
    assert error in SavedReport.objects.get(name="bad").last_error


def test_any_failure_of_one_report_is_recorded_and_logged(enqueued, monkeypatch, caplog):
    saved("a", params={"range": "today"})
    saved("b", params={"range": "last_7d"})
    real_ensure = services.report_job_ensure
    calls = []

    def first_one_breaks(*, spec, **kwargs):
        calls.append(spec)
        if len(calls) == 1:
            raise RuntimeError("internal detail 7f3c")
        return real_ensure(spec=spec, **kwargs)

    monkeypatch.setattr(services, "report_job_ensure", first_one_breaks)
    assert tick() == 1
    broken = SavedReport.objects.get(name="a")
    assert broken.last_error == (
        "The refresh could not be started (internal error RuntimeError); it has been logged "
        "for the administrator."
    )
    assert broken.consecutive_failures == 1
    assert "internal detail 7f3c" in caplog.text  # the log has the details, the admin does not
    assert SavedReport.objects.get(name="b").last_enqueued_at == NOW


def test_a_task_queue_that_is_down_is_recorded_on_each_report(enqueued):
    enqueued.side_effect = OSError("connection refused")
    saved("a", params={"range": "today"})
    saved("b", params={"range": "last_7d"})
    assert tick() == 0
    for report in SavedReport.objects.all():
        assert report.last_error.startswith("The task queue is unavailable")
        assert report.consecutive_failures == 1


def test_an_admin_refresh_of_bad_params_says_what_is_wrong(enqueued):
    report = saved(params={"granularity": 30})
    with pytest.raises(ReportSpecError, match="granularity: '30' is not allowed"):
        services.saved_report_refresh(report=report, now=NOW)
    enqueued.assert_not_called()


def test_each_night_it_fetches_again_what_genesys_may_have_reprocessed(enqueued):
    recent = saved("recent", params={"range": "yesterday"})
    saved("settled", params={"start": "2024-04-01", "end": "2024-04-02"})
    saved("off", params={"range": "yesterday"}, enabled=False)
    with time_machine.travel(NOW, tick=False):
        spec = services.saved_report_spec(recent, now=NOW)
        # Fresh in the cache: a normal tick would leave it alone; the night's run does not.
        cache.result_put(
            report_key=spec.key,
            payload=b"{}",
            as_of=time.time(),
            fresh_seconds=3600,
            ttl_seconds=7200,
        )
        started = periodic_tasks.refetch_settling_reports_task.apply().get()
    assert started == 1
    [(report_key, _)] = enqueued_jobs(enqueued)
    assert report_key == spec.key
