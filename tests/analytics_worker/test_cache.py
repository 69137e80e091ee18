from __future__ import annotations

import pytest

from analytics_worker import cache, redis_client


def test_it_stores_and_reads_a_result():
    cache.result_put(
        report_key="k", payload=b'{"a":1}', as_of=1000.0, fresh_seconds=60, ttl_seconds=600
    )
    cached = cache.result_get(report_key="k")
    assert cached == cache.CachedReport(payload=b'{"a":1}', fresh_until=1060.0, as_of=1000.0)
    assert cached.is_fresh(now=1059.0)
    assert not cached.is_fresh(now=1060.0)


def test_it_sets_the_ttl_and_clears_the_last_error(fake_redis):
    cache.report_error_put(report_key="k", message="boom", at=1.0)
    cache.result_put(report_key="k", payload=b"{}", as_of=1.0, fresh_seconds=1, ttl_seconds=600)
    assert 590 < fake_redis.ttl(redis_client.redis_key("result", "k")) <= 600
    assert cache.report_error_get(report_key="k") is None


def test_it_misses_an_unknown_report():
    assert cache.result_get(report_key="nope") is None


def test_it_marks_a_result_stale():
    cache.result_put(report_key="k", payload=b"{}", as_of=1.0, fresh_seconds=10**9, ttl_seconds=600)
    cache.result_mark_stale(report_key="k")
    assert not cache.result_get(report_key="k").is_fresh(now=2.0)


def test_it_gives_the_lock_to_one_job_only():
    assert cache.lock_acquire(report_key="k", job_id="a", ttl_seconds=60)
    assert not cache.lock_acquire(report_key="k", job_id="b", ttl_seconds=60)
    assert cache.lock_holder(report_key="k") == "a"


def test_it_releases_the_lock_only_for_its_holder():
    cache.lock_acquire(report_key="k", job_id="a", ttl_seconds=60)
    cache.lock_release(report_key="k", job_id="b")
    assert cache.lock_holder(report_key="k") == "a"
    cache.lock_release(report_key="k", job_id="a")
    assert cache.lock_holder(report_key="k") is None


def test_it_lists_locked_reports():
    cache.lock_acquire(report_key="k1", job_id="a", ttl_seconds=60)
    cache.lock_acquire(report_key="k2", job_id="b", ttl_seconds=60)
    assert sorted(cache.lock_report_keys()) == ["k1", "k2"]


def test_it_tracks_a_job():
    cache.job_create(job_id="j", report_key="k", spec={"a": 1})
    cache.job_update(job_id="j", state="fetching", pages=3)
    job = cache.job_get(job_id="j")
    assert job["state"] == "fetching"
    assert job["pages"] == "3"
    assert job["report_key"] == "k"
    assert cache.job_get(job_id="other") is None


def test_it_throttles_past_the_limit():
    assert cache.throttle_hit(name="u1", limit=2, window_seconds=60)
    assert cache.throttle_hit(name="u1", limit=2, window_seconds=60)
    assert not cache.throttle_hit(name="u1", limit=2, window_seconds=60)
    assert cache.throttle_hit(name="u2", limit=2, window_seconds=60)


def test_it_reports_redis_down_as_cache_unavailable(monkeypatch):
    dead = redis_client.connect("redis://127.0.0.1:1")
    monkeypatch.setattr(redis_client, "_client", dead)
    with pytest.raises(cache.CacheUnavailable, match="report cache"):
        cache.result_get(report_key="k")
    with pytest.raises(cache.CacheUnavailable):
        cache.lock_acquire(report_key="k", job_id="a", ttl_seconds=1)


def test_marking_a_missing_result_stale_creates_nothing(fake_redis):
    cache.result_mark_stale(report_key="gone")
    assert fake_redis.keys("*") == []


# result_lookup is a Lua script: run its tests on real Redis as well as fakeredis's Lua.
@pytest.fixture(params=["fakeredis", "redis"])
def lookup_redis(request):
    return request.getfixturevalue("real_redis" if request.param == "redis" else "fake_redis")


def _lookup_counts() -> dict[str, float]:
    return {
        field.split("=")[1]: value
        for field, value in redis_client.metrics_read().items()
        if field.startswith(cache.LOOKUP_METRIC)
    }


def test_a_lookup_tells_fresh_stale_and_miss_and_counts_each(lookup_redis):
    cache.result_put(
        report_key="k", payload=b'{"a":1}', as_of=1000.0, fresh_seconds=60, ttl_seconds=600
    )
    expected = cache.CachedReport(payload=b'{"a":1}', fresh_until=1060.0, as_of=1000.0)
    assert cache.result_lookup(report_key="k", now=1059.5) == ("fresh", expected)
    assert cache.result_lookup(report_key="k", now=1060.0) == ("stale", expected)
    assert cache.result_lookup(report_key="k", now=1.0, force=True) == ("stale", expected)
    assert cache.result_lookup(report_key="other", now=1.0) == ("miss", None)
    assert _lookup_counts() == {"fresh": 1.0, "stale": 2.0, "miss": 1.0}


def test_a_capped_lookup_refuses_past_the_cap_and_reads_nothing(lookup_redis):
    cache.result_put(report_key="k", payload=b"{}", as_of=1000.0, fresh_seconds=60, ttl_seconds=600)
    cap = cache.Throttle(name="reads:u1", limit=2, window_seconds=60)
    for _ in range(2):
        assert cache.result_lookup(report_key="k", now=1010.0, read_cap=cap)[0] == "fresh"
    with pytest.raises(cache.ReadLimitReached, match="More than 2 reads in 60 s"):
        cache.result_lookup(report_key="k", now=1010.0, read_cap=cap)
    assert _lookup_counts() == {"fresh": 2.0}
    counter = cap.counter_key(now=1010.0)
    assert int(lookup_redis.get(counter)) == 3
    assert 0 < lookup_redis.ttl(counter) <= 61
    # Another reader, and the next window, have caps of their own.
    other = cache.Throttle(name="reads:u2", limit=2, window_seconds=60)
    assert cache.result_lookup(report_key="k", now=1010.0, read_cap=other)[0] == "fresh"
    assert cache.result_lookup(report_key="k", now=1080.0, read_cap=cap)[0] == "stale"


def test_a_lookup_loads_its_script_again_after_redis_forgets_it(lookup_redis):
    cache.result_put(report_key="k", payload=b"{}", as_of=1000.0, fresh_seconds=60, ttl_seconds=600)
    assert cache.result_lookup(report_key="k", now=1010.0)[0] == "fresh"
    lookup_redis.script_flush()  # what a restarted Redis does
    assert cache.result_lookup(report_key="k", now=1010.0)[0] == "fresh"
    assert _lookup_counts() == {"fresh": 2.0}


def test_a_lookup_reports_redis_down_as_cache_unavailable(monkeypatch):
    monkeypatch.setattr(redis_client, "_client", redis_client.connect("redis://127.0.0.1:1"))
    with pytest.raises(cache.CacheUnavailable, match="report cache"):
        cache.result_lookup(report_key="k", now=1.0)


# --- the fetch budget -----------------------------------------------------------------------------

BUDGET = cache.FetchBudget(name="u1", requests=100, requests_per_minute=60, fetches_per_minute=5)


def charge(cost: int, now: float, budget: cache.FetchBudget = BUDGET):
    return cache.fetch_budget_charge(budget=budget, cost=cost, now=now)


def test_the_budget_charges_each_fetch_its_cost_and_refills():
    assert charge(60, now=1000.0) is None
    assert charge(40, now=1000.0) is None  # 100 charged: the whole budget
    refused = charge(10, now=1000.0)
    assert refused.reason == "requests"
    assert refused.retry_after == pytest.approx(10.0)  # 60 requests a minute: 10 in 10 s
    assert charge(10, now=1009.0).reason == "requests"
    assert charge(10, now=1010.0) is None


def test_the_budget_lets_one_fetch_larger_than_itself_start_from_full():
    # Else the longest report could never be fetched; it then holds the budget for its cost.
    assert charge(620, now=1000.0) is None
    refused = charge(1, now=1000.0)
    assert refused.reason == "requests"
    assert refused.retry_after == pytest.approx(521.0)  # until 99 of 620 are left owing
    assert charge(620, now=1000.0 + 619).retry_after == pytest.approx(1.0)
    assert charge(620, now=1000.0 + 620) is None


def test_the_budget_counts_fetches_too():
    for _ in range(5):
        assert charge(1, now=1200.0) is None
    refused = charge(1, now=1230.0)
    assert refused.reason == "fetches"
    assert refused.retry_after == pytest.approx(30.0)  # the minute's window ends at 1260
    assert charge(1, now=1260.0) is None


def test_a_refused_fetch_is_not_charged():
    assert charge(100, now=1000.0) is None
    for _ in range(10):
        assert charge(50, now=1000.0) is not None
    assert charge(50, now=1050.0) is None  # 50 refilled; the refusals cost nothing


def test_budgets_are_per_name():
    assert charge(100, now=1000.0) is None
    other = cache.FetchBudget(name="u2", requests=100, requests_per_minute=60, fetches_per_minute=5)
    assert charge(100, now=1000.0, budget=other) is None


def test_it_remembers_what_a_reports_last_fetch_cost():
    assert cache.fetch_cost_get(report_key="k") is None
    cache.fetch_cost_put(report_key="k", requests=37)
    assert cache.fetch_cost_get(report_key="k") == 37


def test_it_counts_failures_in_a_row_until_a_result_is_stored():
    cache.report_error_put(report_key="k", message="first", at=1.0)
    cache.report_error_put(report_key="k", message="second", at=2.0)
    assert cache.report_error_get(report_key="k") == {"message": "second", "at": 2.0, "failures": 2}
    cache.result_put(report_key="k", payload=b"{}", as_of=3.0, fresh_seconds=1, ttl_seconds=600)
    cache.report_error_put(report_key="k", message="third", at=4.0)
    assert cache.report_error_get(report_key="k")["failures"] == 1
