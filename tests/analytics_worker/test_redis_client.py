"""reads_run: several reads in one round trip, on the client's own connections, with redis-py's
guarantees kept (errors raised, a dropped connection opened again, scripts loaded again)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest
import redis

from analytics_worker import redis_client
from analytics_worker.redis_client import Read, read_run, reads_run
from tests.helpers import REAL_REDIS_TEST_URL


@pytest.fixture
def product_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    """A real Redis reached as the product reaches it (redis_client.connect: its retry)."""
    client = redis_client.connect(REAL_REDIS_TEST_URL)
    client.flushdb()
    monkeypatch.setattr(redis_client, "_client", client)
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(params=["fakeredis", "redis"])
def any_redis(request: pytest.FixtureRequest) -> redis.Redis:
    return request.getfixturevalue("product_redis" if request.param == "redis" else "fake_redis")


def _values(replies: list[object]) -> list[object]:
    return replies


def test_reads_share_one_transaction_and_each_gets_its_own_replies(any_redis):
    any_redis.set("a", b"1")
    any_redis.hset("h", mapping={"x": b"10", "y": b"20"})
    first = Read(commands=(("MGET", "a", "missing"),), parse=_values)
    second = Read(commands=(("HMGET", "h", "y", "x"), ("SET", "b", "2", "EX", 60)), parse=_values)
    assert reads_run([first, second]) == [[[b"1", None]], [[b"20", b"10"], b"OK"]]
    assert any_redis.get("b") == b"2"
    assert 0 < any_redis.ttl("b") <= 60
    # One command alone, no MULTI around it.
    assert read_run(Read(commands=(("GET", "a"),), parse=lambda replies: replies[0])) == b"1"


def test_an_error_reply_is_raised_and_the_connection_still_serves(any_redis):
    any_redis.set("text", b"not a hash")
    wrong_type = Read(commands=(("GET", "text"), ("HMGET", "text", "x")), parse=_values)
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        reads_run([wrong_type])
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        reads_run([Read(commands=(("HMGET", "text", "x"),), parse=_values)])
    # Refused as it is queued (no such command): the transaction is aborted, and raised.
    unknown = Read(commands=(("GET", "text"), ("NOSUCHCOMMAND", "x")), parse=_values)
    with pytest.raises(redis.ResponseError):
        reads_run([unknown])
    assert reads_run([Read(commands=(("GET", "text"), ("GET", "text")), parse=_values)]) == [
        [b"not a hash", b"not a hash"]
    ]


def test_a_connection_redis_dropped_is_opened_again(product_redis):
    product_redis.set("a", b"1")
    client_id = Read(commands=(("CLIENT", "ID"),), parse=lambda replies: replies[0])
    pooled = read_run(client_id)
    assert read_run(client_id) == pooled  # the pool hands the same connection back
    killer = redis.Redis.from_url(REAL_REDIS_TEST_URL)
    assert killer.client_kill_filter(_id=pooled) == 1
    killer.close()
    found = reads_run([Read(commands=(("GET", "a"), ("CLIENT", "ID")), parse=_values)])
    assert found[0][0] == b"1"
    assert read_run(client_id) != pooled


def test_a_script_redis_forgot_is_loaded_and_the_reads_sent_again(product_redis):
    script = "return ARGV[1]"
    sha = product_redis.script_load(script)
    product_redis.script_flush()
    read = Read(
        commands=(("EVALSHA", sha, 0, "hello"), ("PING",)), parse=_values, scripts=(script,)
    )
    assert reads_run([read]) == [[b"hello", b"PONG"]]
    assert product_redis.script_exists(sha) == [True]


def test_a_round_trip_cut_short_is_sent_once_more(product_redis, monkeypatch):
    product_redis.set("a", b"1")
    connection_class = product_redis.connection_pool.connection_class
    send, cuts = connection_class.send_packed_command, []

    def cut_once(connection, command, check_health=True):
        if not cuts:
            cuts.append(command)
            raise redis.ConnectionError("Connection reset by peer")
        return send(connection, command, check_health)

    monkeypatch.setattr(connection_class, "send_packed_command", cut_once)
    read = Read(commands=(("GET", "a"), ("EXISTS", "a")), parse=_values)
    assert reads_run([read]) == [[b"1", 1]]
    assert len(cuts) == 1


CLIENT_ID = Read(commands=(("CLIENT", "ID"),), parse=lambda replies: replies[0])


def _in_thread(work):
    found: list[object] = []
    thread = threading.Thread(target=lambda: found.append(work()))
    thread.start()
    thread.join()
    return found[0]


def test_each_thread_keeps_its_own_connection_and_gives_it_back_when_it_ends(product_redis):
    pool = product_redis.connection_pool
    mine = read_run(CLIENT_ID)
    assert read_run(CLIENT_ID) == mine
    # Another thread reads on another connection, held only while that thread lives.
    theirs, in_use = _in_thread(lambda: (read_run(CLIENT_ID), len(pool._in_use_connections)))
    assert theirs != mine
    assert in_use == 2
    assert _in_thread(lambda: read_run(CLIENT_ID)) != mine
    gc.collect()
    assert len(pool._in_use_connections) == 1  # this thread's; the ended threads' are back
    assert len(pool._available_connections) >= 1


def test_a_read_cut_short_with_replies_unread_leaves_none_for_the_next(product_redis, monkeypatch):
    product_redis.set("a", b"first")
    product_redis.set("b", b"second")
    connection_class = product_redis.connection_pool.connection_class
    read_response = connection_class.read_response
    calls: list[int] = []

    def interrupted(connection, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # after MULTI's OK: the QUEUEDs and EXEC's reply stay unread
            raise KeyboardInterrupt
        return read_response(connection, *args, **kwargs)

    monkeypatch.setattr(connection_class, "read_response", interrupted)
    with pytest.raises(KeyboardInterrupt):
        reads_run([Read(commands=(("GET", "a"), ("GET", "a")), parse=_values)])
    monkeypatch.setattr(connection_class, "read_response", read_response)
    assert read_run(Read(commands=(("GET", "b"),), parse=lambda replies: replies[0])) == b"second"


def test_an_argument_redis_cannot_be_sent_is_refused_before_anything_is_sent(any_redis):
    with pytest.raises(redis.DataError):
        reads_run([Read(commands=(("SET", "a", object()), ("GET", "a")), parse=_values)])
    assert any_redis.get("a") is None
