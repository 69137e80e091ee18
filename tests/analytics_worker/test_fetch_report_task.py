from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import orjson
import pytest
from django.utils import timezone

from analytics_worker import cache, fetch, services, sources, tasks
from analytics_worker.genesys.errors import GenesysRateLimited
from analytics_worker.models import SavedReport
from analytics_worker.reports import ReportSpec
from tests.analytics_worker.helpers import conversation

pytestmark = pytest.mark.django_db

PAGES = [
    [conversation("2024-05-01T09:05:00.000Z"), conversation("2024-05-01T09:40:00.000Z")],
    [conversation("2024-05-01T23:59:59.000Z", wait=None)],
]


@pytest.fixture
def pages():
    with mock.patch.object(
        sources, "graphql_conversation_pages", autospec=True, return_value=iter(PAGES)
    ) as source:
        yield source


@pytest.fixture
def job(spec, enqueued):
    return services.report_lookup(spec=spec).job_id


def run(spec, job_id):
    return tasks.fetch_report_task.apply(kwargs={"spec": spec.to_dict(), "job_id": job_id}).get()


def test_it_stores_the_buckets_and_finishes_the_job(spec, job, pages):
    assert run(spec, job) == "done"
    cached = cache.result_get(report_key=spec.key)
    report = orjson.loads(cached.payload)
    assert report["key"] == spec.key
    assert report["spec"] == spec.to_dict()
    assert len(report["buckets"]) == 48
    assert report["totals"]["conversations"] == 3
    assert report["totals"]["wait_count"] == 2
    assert report["fetch"]["pages"] == 2
    assert report["fetch"]["items"] == 3
    assert cache.job_get(job_id=job)["state"] == "done"
    assert cache.lock_holder(report_key=spec.key) is None


def test_it_remembers_the_requests_the_fetch_took(spec, job, pages):
    # The next fetch of the same report is charged and queued by it (services.report_fetch_cost).
    run(spec, job)
    report = orjson.loads(cache.result_get(report_key=spec.key).payload)
    assert cache.fetch_cost_get(report_key=spec.key) == report["fetch"]["requests"]
    assert services.report_fetch_cost(spec=spec) == report["fetch"]["requests"]


def test_a_failed_fetch_leaves_the_cost_unknown(spec, job, pages):
    pages.side_effect = GenesysRateLimited("Genesys kept answering 429; try again in a minute.")
    run(spec, job)
    assert cache.fetch_cost_get(report_key=spec.key) is None


def test_a_historical_report_stays_fresh_longer(spec, job, pages, settings):
    settings.REPORT_HISTORICAL_FRESH_SECONDS = 5000
    run(spec, job)
    cached = cache.result_get(report_key=spec.key)
    assert cached.fresh_until - cached.as_of == 5000


def test_a_report_of_the_last_48_hours_is_refreshed_sooner(enqueued, pages, settings):
    settings.REPORT_SETTLING_FRESH_SECONDS = 900
    settings.REPORT_SETTLING_TTL_SECONDS = 7200
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    yesterday = ReportSpec(start=end - timedelta(days=1), end=end)
    job = services.report_lookup(spec=yesterday).job_id
    run(yesterday, job)
    cached = cache.result_get(report_key=yesterday.key)
    assert cached.fresh_until - cached.as_of == 900
    assert 7100 < fake_ttl(yesterday.key) <= 7200


def fake_ttl(report_key: str) -> int:
    from analytics_worker.redis_client import get_redis, result_key

    return get_redis().ttl(result_key(report_key))


def test_a_failed_fetch_keeps_the_good_result(spec, job, pages):
    cache.result_put(
        report_key=spec.key, payload=b'{"old":1}', as_of=1.0, fresh_seconds=1, ttl_seconds=600
    )
    pages.side_effect = GenesysRateLimited("Genesys kept answering 429; try again in a minute.")
    assert run(spec, job) == "failed"
    assert cache.result_get(report_key=spec.key).payload == b'{"old":1}'
    failed = cache.job_get(job_id=job)
    assert failed["state"] == "failed"
    assert "429" in failed["message"]
    assert "429" in cache.report_error_get(report_key=spec.key)["message"]
    assert cache.lock_holder(report_key=spec.key) is None


def test_an_internal_error_is_logged_not_shown(spec, job, pages):
    pages.side_effect = KeyError("secret detail")
    with pytest.raises(KeyError):
        fetch.report_job_run(spec_data=spec.to_dict(), job_id=job)
    failed = cache.job_get(job_id=job)
    assert failed["state"] == "failed"
    assert "secret detail" not in failed["message"]
    assert "internal error" in failed["message"]
    assert cache.lock_holder(report_key=spec.key) is None


def test_beat_prefetch_yields_the_genesys_budget_to_people(spec, enqueued, pages):
    # A prefetch job's requests wait while a fetch a person waits for is sending
    # (genesys/http.py FOREGROUND_HOLD_SECONDS); a person's do not.
    person = services.report_lookup(spec=spec).job_id
    run(spec, person)
    assert pages.call_args.kwargs["progress"].background is False

    prefetch = services.report_job_ensure(spec=spec, kind="prefetch")
    run(spec, prefetch)
    assert pages.call_args.kwargs["progress"].background is True


def test_a_redelivered_finished_job_does_nothing(spec, job, pages):
    run(spec, job)
    run(spec, job)
    assert pages.call_count == 1


def test_it_reports_progress_per_page(spec, job, pages):
    seen = []
    original = cache.job_update

    def spy(**fields):
        seen.append(dict(fields))
        original(**fields)

    with mock.patch.object(cache, "job_update", side_effect=spy):
        run(spec, job)
    fetching = [f for f in seen if f.get("state") == "fetching" and f.get("pages")]
    assert [(f["pages"], f["items"]) for f in fetching] == [(1, 2), (2, 3)]


def test_a_rate_limit_wait_is_shown_on_the_job(spec, job, pages):
    def source(*, progress, **_):
        progress.on_wait(12.0, "Genesys rate limit (429): waiting 12 s")
        assert cache.job_get(job_id=job)["state"] == "waiting"
        yield from PAGES

    pages.side_effect = source
    run(spec, job)
    assert cache.job_get(job_id=job)["state"] == "done"


def test_it_records_the_outcome_on_saved_reports(spec, job, pages):
    report = SavedReport.objects.create(
        name="r", last_report_key=spec.key, consecutive_failures=2, refresh_seconds=60
    )
    run(spec, job)
    report.refresh_from_db()
    assert report.last_success_at is not None
    assert report.consecutive_failures == 0


def test_a_failing_saved_report_backs_off(spec, job, pages):
    report = SavedReport.objects.create(
        name="r", last_report_key=spec.key, refresh_seconds=60, consecutive_failures=1
    )
    pages.side_effect = GenesysRateLimited("rate limited")
    before = timezone.now()
    run(spec, job)
    report.refresh_from_db()
    assert report.consecutive_failures == 2
    assert report.last_error == "rate limited"
    assert report.enabled
    # 60 s doubled twice.
    delay = (report.next_due_at - before).total_seconds()
    assert 239 <= delay <= 242


def test_backoff_is_capped_at_an_hour():
    report = SavedReport(refresh_seconds=120, consecutive_failures=9)
    now = datetime(2024, 5, 1, tzinfo=UTC)
    assert (report.backoff_until(now=now) - now).total_seconds() == 3600
