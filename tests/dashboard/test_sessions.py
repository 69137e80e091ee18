"""Sessions and the logged-in user read from Redis (dashboard.sessions, dashboard.user_cache),
without giving up revocation: logout, deactivation, a password or staff change take effect on
the next request, Redis down or not, and a logout Redis missed stays a logout once it is back."""

from __future__ import annotations

from collections.abc import Iterator
from unittest import mock

import fakeredis
import orjson
import pytest
import redis
from django.contrib.auth.models import User
from django.test import Client

from analytics_worker import redis_client
from analytics_worker.redis_client import session_cache_key, user_cache_key, user_generation_key
from dashboard import revocations, sealed, sessions, user_cache
from dashboard.models import PendingRevocation
from dashboard.user_cache import user_copy_prefetched
from tests.dashboard.helpers import DAY_QUERY, CommandLog, put_report, spec_from_query

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
URL = "/api/report?" + DAY_QUERY


@pytest.fixture(autouse=True)
def fresh_process(settings) -> Iterator[None]:
    """Each test starts as a new web process that has not read the pending revocations."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    another_process()
    yield
    another_process()


@pytest.fixture
def supervisor(db: None) -> User:
    return User.objects.create_user("supervisor", password=PASSWORD)


def logged_in(username: str = "supervisor") -> Client:
    client = Client()
    response = client.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, "the login must succeed"
    return client


def another_process() -> None:
    """What a second web process sees: nothing of this one's memory, only Redis and the DB."""
    revocations._pending.reset()
    sessions._session_users.users.clear()
    sessions._verified.values.clear()
    user_cache._verified.values.clear()


@pytest.fixture
def outage(monkeypatch: pytest.MonkeyPatch, fake_redis: fakeredis.FakeRedis):
    """outage(True): every Redis command fails; outage(False): the same Redis is back, with
    whatever it held before."""

    down_server = fakeredis.FakeServer()
    down_server.connected = False
    down = fakeredis.FakeRedis(server=down_server)

    def switch(is_down: bool) -> None:
        monkeypatch.setattr(redis_client, "_client", down if is_down else fake_redis)

    return switch


def test_a_cached_hit_loads_session_and_user_without_the_database(
    supervisor: User, enqueued, settings, django_assert_num_queries
) -> None:
    settings.CACHE_REVOCATION_POLL_SECONDS = 3600
    put_report(spec_from_query(DAY_QUERY))
    client = logged_in()
    assert client.get(URL).status_code == 200  # reads the pending revocations once
    with django_assert_num_queries(0):
        assert client.get(URL).status_code == 200


def test_logout_revokes_the_session(
    supervisor: User, enqueued, fake_redis: fakeredis.FakeRedis
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    client = logged_in()
    assert client.get(URL).status_code == 200
    cookie = client.cookies["sessionid"].value
    assert fake_redis.get(session_cache_key(cookie)) not in (None, revocations.SESSION_TOMBSTONE)
    assert client.post("/accounts/logout/").status_code == 302
    stolen = Client()
    stolen.cookies["sessionid"] = cookie
    assert stolen.get(URL).status_code == 401
    assert fake_redis.get(session_cache_key(cookie)) == revocations.SESSION_TOMBSTONE


def test_deactivation_blocks_the_next_request(supervisor: User, enqueued) -> None:
    put_report(spec_from_query(DAY_QUERY))
    client = logged_in()
    assert client.get(URL).status_code == 200  # the user is now cached in Redis
    supervisor.is_active = False
    supervisor.save()
    another_process()
    assert client.get(URL).status_code == 401


def test_a_password_change_ends_the_other_sessions(supervisor: User, enqueued) -> None:
    put_report(spec_from_query(DAY_QUERY))
    here, elsewhere = logged_in(), logged_in()
    assert here.get(URL).status_code == elsewhere.get(URL).status_code == 200
    response = here.post(
        "/accounts/password_change/",
        {
            "old_password": PASSWORD,
            "new_password1": "a new and longer passphrase",
            "new_password2": "a new and longer passphrase",
        },
    )
    assert response.status_code == 302
    # As Django does: the session that changed it stays, every other one ends.
    assert here.get(URL).status_code == 200
    assert elsewhere.get(URL).status_code == 401


def test_a_staff_change_takes_effect_on_the_next_request(supervisor: User) -> None:
    supervisor.is_staff = True
    supervisor.save()
    client = logged_in()
    assert client.get("/metrics").status_code == 200
    supervisor.is_staff = False
    supervisor.save()
    assert client.get("/metrics").status_code == 403


def test_a_stale_copy_of_the_user_is_never_served(
    supervisor: User, enqueued, fake_redis: fakeredis.FakeRedis
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    client = logged_in()
    assert client.get(URL).status_code == 200
    copy = fake_redis.get(user_cache_key(supervisor.pk))
    assert copy is not None
    supervisor.is_active = False
    supervisor.save()
    # A request that read the user before the save writes its copy back after it: dead on
    # arrival, since it carries the generation before the save.
    fake_redis.set(user_cache_key(supervisor.pk), copy)
    assert client.get(URL).status_code == 401


def test_redis_down_still_serves_pages(supervisor: User, outage, inline_fetch, enqueued) -> None:
    inline_fetch()
    outage(True)
    client = logged_in()
    response = client.get("/?" + DAY_QUERY)
    assert response.status_code == 200
    assert b"supervisor" in response.content
    assert client.get(URL).json()["status"] == "degraded"
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get(URL).status_code == 401


def test_a_logout_while_redis_is_down_stays_revoked_once_it_is_back(
    supervisor: User, enqueued, outage, fake_redis: fakeredis.FakeRedis
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    client = logged_in()
    assert client.get(URL).status_code == 200
    cookie = client.cookies["sessionid"].value
    stale_copy = fake_redis.get(session_cache_key(cookie))
    assert stale_copy is not None
    outage(True)
    assert client.post("/accounts/logout/").status_code == 302
    assert PendingRevocation.objects.filter(kind="session_revoked", name=cookie).exists()
    outage(False)
    assert fake_redis.get(session_cache_key(cookie)) == stale_copy  # Redis never heard of it
    another_process()
    stolen = Client()
    stolen.cookies["sessionid"] = cookie
    assert stolen.get(URL).status_code == 401
    # The process that read it applied it to Redis and cleared it from the database.
    assert fake_redis.get(session_cache_key(cookie)) == revocations.SESSION_TOMBSTONE
    assert not PendingRevocation.objects.exists()
    another_process()
    assert stolen.get(URL).status_code == 401


def test_a_process_honours_a_pending_revocation_before_applying_it(
    supervisor: User, enqueued, outage, fake_redis: fakeredis.FakeRedis, monkeypatch
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    client = logged_in()
    assert client.get(URL).status_code == 200
    cookie = client.cookies["sessionid"].value
    outage(True)
    client.post("/accounts/logout/")
    outage(False)
    another_process()

    # Redis answers reads but this process's first write back fails: the revocation must still
    # be honoured (the copy ignored), and wait in the database for the next process.
    def refuse(**_: object) -> None:
        raise redis.ConnectionError("refused")

    monkeypatch.setattr(revocations, "revocation_apply", refuse)
    stolen = Client()
    stolen.cookies["sessionid"] = cookie
    assert stolen.get(URL).status_code == 401
    assert PendingRevocation.objects.filter(name=cookie).exists()


def test_a_deactivation_while_redis_is_down_holds_once_it_is_back(
    supervisor: User, enqueued, outage
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    client = logged_in()
    assert client.get(URL).status_code == 200  # the user cached, active
    outage(True)
    supervisor.is_active = False
    supervisor.save()
    assert PendingRevocation.objects.filter(kind="user_changed").exists()
    outage(False)
    another_process()
    assert client.get(URL).status_code == 401
    assert not PendingRevocation.objects.exists()


def test_a_login_lockout_still_works(supervisor: User, settings) -> None:
    settings.AXES_FAILURE_LIMIT = 2
    client = Client()
    for _ in range(2):
        client.post("/accounts/login/", {"username": "supervisor", "password": "wrong"})
    response = client.post("/accounts/login/", {"username": "supervisor", "password": PASSWORD})
    assert response.status_code == 429


def test_against_a_real_redis(supervisor: User, enqueued, real_redis: redis.Redis) -> None:
    put_report(spec_from_query(DAY_QUERY))
    client = logged_in()
    assert client.get(URL).status_code == 200
    cookie = client.cookies["sessionid"].value
    assert real_redis.exists(session_cache_key(cookie), user_cache_key(supervisor.pk)) == 2
    supervisor.is_active = False
    supervisor.save()
    assert client.get(URL).status_code == 401
    supervisor.is_active = True
    supervisor.save()
    client = logged_in()
    cookie = client.cookies["sessionid"].value
    client.post("/accounts/logout/")
    stolen = Client()
    stolen.cookies["sessionid"] = cookie
    assert stolen.get(URL).status_code == 401
    assert real_redis.get(session_cache_key(cookie)) == revocations.SESSION_TOMBSTONE


def test_a_wrong_password_is_checked_once(supervisor: User) -> None:
    with mock.patch.object(User, "check_password", autospec=True, return_value=False) as check:
        response = Client().post(
            "/accounts/login/", {"username": "supervisor", "password": "wrong"}
        )
    assert response.status_code == 200  # the form again, with its error
    assert check.call_count == 1


def test_a_session_made_by_the_stock_backend_still_loads(supervisor: User, enqueued) -> None:
    """Sessions from before the cached backend (and the drills' harness) name ModelBackend."""
    put_report(spec_from_query(DAY_QUERY))
    client = Client()
    client.force_login(supervisor, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(URL).status_code == 200


def test_a_forged_user_copy_in_redis_is_ignored(
    supervisor: User, fake_redis: fakeredis.FakeRedis
) -> None:
    client = logged_in()
    assert client.get("/metrics").status_code == 403
    copy = fake_redis.get(user_cache_key(supervisor.pk))
    assert copy is not None
    # Someone able to write to Redis makes the copy staff, keeping its generation.
    body = orjson.loads(copy[32:])
    body["values"]["is_staff"] = True
    fake_redis.set(user_cache_key(supervisor.pk), copy[:32] + orjson.dumps(body))
    assert client.get("/metrics").status_code == 403
    fake_redis.set(user_cache_key(supervisor.pk), orjson.dumps(body))
    assert client.get("/metrics").status_code == 403


def test_a_forged_session_in_redis_is_ignored(
    supervisor: User, fake_redis: fakeredis.FakeRedis
) -> None:
    staff = User.objects.create_user("boss", password=PASSWORD, is_staff=True)
    boss = logged_in("boss")
    assert boss.get("/metrics").status_code == 200
    client = logged_in()
    cookie = client.cookies["sessionid"].value
    boss_copy = fake_redis.get(session_cache_key(boss.cookies["sessionid"].value))
    # The boss's session data (unsealed) put under the supervisor's session key.
    fake_redis.set(session_cache_key(cookie), boss_copy[32:])
    assert client.get("/metrics").status_code == 403
    assert staff.is_staff


def test_a_sealed_session_moved_under_another_key_is_ignored(
    supervisor: User, fake_redis: fakeredis.FakeRedis
) -> None:
    """The seal names the session's key: the boss's copy, seal and all, under one's own key
    does not make one the boss."""
    User.objects.create_user("boss", password=PASSWORD, is_staff=True)
    boss = logged_in("boss")
    assert boss.get("/metrics").status_code == 200
    client = logged_in()
    assert client.get("/metrics").status_code == 403
    boss_copy = fake_redis.get(session_cache_key(boss.cookies["sessionid"].value))
    fake_redis.set(session_cache_key(client.cookies["sessionid"].value), boss_copy)
    assert client.get("/metrics").status_code == 403


def test_a_sealed_user_copy_moved_under_another_key_is_ignored(
    supervisor: User, fake_redis: fakeredis.FakeRedis
) -> None:
    staff = User.objects.create_user("boss", password=PASSWORD, is_staff=True)
    assert logged_in("boss").get("/metrics").status_code == 200
    client = logged_in()
    assert client.get("/metrics").status_code == 403
    fake_redis.set(user_cache_key(supervisor.pk), fake_redis.get(user_cache_key(staff.pk)))
    response = client.get("/metrics")
    assert response.status_code == 403
    assert response.wsgi_request.user == supervisor


def test_a_known_session_and_its_user_come_in_one_round_trip(
    supervisor: User, enqueued, fake_redis: fakeredis.FakeRedis, monkeypatch, settings
) -> None:
    settings.CACHE_REVOCATION_POLL_SECONDS = 3600
    put_report(spec_from_query(DAY_QUERY))
    client = logged_in()
    assert client.get(URL).status_code == 200  # this process learns whose session it is
    cookie = client.cookies["sessionid"].value
    log = CommandLog(fake_redis, monkeypatch)
    response = client.get(URL)
    assert response.status_code == 200
    assert response.wsgi_request.user == supervisor
    # One round trip: an MGET of the session, the user's copy and its generation, sent with
    # the report's lookup (a script, and the payload).
    assert log.names() == [["MGET", "EVALSHA", "HMGET"]]
    assert log.batches[0][0] == (
        "MGET",
        session_cache_key(cookie),
        user_cache_key(supervisor.pk),
        user_generation_key(supervisor.pk),
    )


def test_deactivation_blocks_the_next_request_of_a_process_that_knows_the_session(
    supervisor: User, enqueued, fake_redis: fakeredis.FakeRedis, monkeypatch
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    client = logged_in()
    assert client.get(URL).status_code == 200
    assert client.get(URL).status_code == 200  # the user's copy came with the session
    supervisor.is_active = False
    supervisor.save()
    log = CommandLog(fake_redis, monkeypatch)
    assert client.get(URL).status_code == 401
    assert log.names()[0][0] == "MGET"  # the prefetched copy was read, and found dead


def test_a_copy_prefetched_for_an_earlier_request_is_never_used(
    supervisor: User, enqueued, fake_redis: fakeredis.FakeRedis
) -> None:
    """What a thread's last request prefetched (its get_user never ran) cannot stand in for a
    later request's read: every session load starts by forgetting it."""
    put_report(spec_from_query(DAY_QUERY))
    client = logged_in()
    assert client.get(URL).status_code == 200
    # As an earlier request left it: the copy and generation of a user still active.
    user_copy_prefetched(
        supervisor.pk,
        (
            fake_redis.get(user_cache_key(supervisor.pk)),
            fake_redis.get(user_generation_key(supervisor.pk)),
        ),
    )
    supervisor.is_active = False
    supervisor.save()
    another = Client()  # a request whose session load has nothing to prefetch
    another.cookies["sessionid"] = client.cookies["sessionid"].value
    sessions._session_users.forget(client.cookies["sessionid"].value)
    assert another.get(URL).status_code == 401


def test_a_copy_already_verified_is_not_checked_again_and_still_ends(
    supervisor: User, enqueued, monkeypatch
) -> None:
    """A process checks the seal of the same session and user copy once; the copies are still
    read on every request, so a deactivation or a logout ends them there at once."""
    put_report(spec_from_query(DAY_QUERY))
    client = logged_in()
    assert client.get(URL).status_code == 200
    assert client.get(URL).status_code == 200  # the session's user is known: both copies read
    checked: list[str] = []
    unseal = sealed.unseal

    def counted(value: bytes, *, purpose: str) -> bytes | None:
        checked.append(purpose.split(".")[0])
        return unseal(value, purpose=purpose)

    monkeypatch.setattr(sealed, "unseal", counted)
    for _ in range(3):
        response = client.get(URL)
        assert response.status_code == 200
        assert response.wsgi_request.user == supervisor
    assert checked == []
    supervisor.is_active = False
    supervisor.save()
    assert client.get(URL).status_code == 401
    supervisor.is_active = True
    supervisor.save()
    for _ in range(3):  # the database's row, copied to Redis; then that copy
        assert client.get(URL).status_code == 200
    assert checked == ["user"]  # the new copy, once
    cookie = client.cookies["sessionid"].value
    assert client.post("/accounts/logout/").status_code == 302
    stolen = Client()
    stolen.cookies["sessionid"] = cookie
    assert stolen.get(URL).status_code == 401


def test_what_a_request_changes_in_its_user_or_session_stays_in_that_request(
    supervisor: User, enqueued
) -> None:
    put_report(spec_from_query(DAY_QUERY))
    client = logged_in()
    for _ in range(2):
        response = client.get(URL)
        assert response.status_code == 200
    # The request's own objects, changed after the fact (nothing saved).
    response.wsgi_request.user.is_staff = True
    response.wsgi_request.user.username = "someone else"
    response.wsgi_request.session._session_cache["_auth_user_id"] = "999"
    response.wsgi_request.session._session_cache["_auth_user_hash"] = "forged"
    response = client.get("/metrics")
    assert response.status_code == 403
    assert response.wsgi_request.user.username == "supervisor"
    assert response.wsgi_request.session["_auth_user_id"] == str(supervisor.pk)
