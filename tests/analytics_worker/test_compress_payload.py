"""The payload stored deflated once (payload_gzip, cache.result_put) and the gzip built around it."""

from __future__ import annotations

import gzip
import os
import zlib

import fakeredis
import orjson
from hypothesis import given
from hypothesis import strategies as st

from analytics_worker import cache
from analytics_worker.payload_gzip import DeflatedPayload, crc32_combine, gzip_wrap
from analytics_worker.redis_client import result_key


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_crc32_combine_is_zlibs(first: bytes, second: bytes) -> None:
    combined = crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second))
    assert combined == zlib.crc32(first + second)


def test_crc32_combine_over_a_long_second_part() -> None:
    first, second = os.urandom(100), os.urandom(200_000)
    assert crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second)) == zlib.crc32(
        first + second
    )


@given(st.binary(max_size=200), st.binary(max_size=2000), st.binary(max_size=50))
def test_the_wrapped_gzip_is_one_valid_member(head: bytes, raw: bytes, tail: bytes) -> None:
    body = gzip_wrap(head=head, payload=DeflatedPayload.of(raw), tail=tail)
    # wbits 31: a gzip stream whose CRC-32 and length zlib checks; eof: one member, nothing after.
    inflater = zlib.decompressobj(31)
    assert inflater.decompress(body) == head + raw + tail
    assert inflater.eof and inflater.unused_data == b""
    assert gzip.decompress(body) == head + raw + tail


def test_a_head_or_tail_longer_than_one_stored_block_is_wrapped_whole() -> None:
    head, raw, tail = os.urandom(70_000), b'{"a":1}' * 1000, os.urandom(140_000)
    body = gzip_wrap(head=head, payload=DeflatedPayload.of(raw), tail=tail)
    inflater = zlib.decompressobj(31)
    assert inflater.decompress(body) == head + raw + tail
    assert inflater.eof and inflater.unused_data == b""


def test_a_corrupt_length_is_refused() -> None:
    body = bytearray(gzip_wrap(head=b"{", payload=DeflatedPayload.of(b'"a":1'), tail=b"}"))
    body[-1] ^= 1
    try:
        gzip.decompress(bytes(body))
    except (OSError, EOFError) as exc:
        assert "length" in str(exc) or "CRC" in str(exc)
    else:
        raise AssertionError("a wrong length was accepted")


def test_it_inflates_what_it_deflated() -> None:
    raw = orjson.dumps({"buckets": [{"n": i} for i in range(5000)]})
    deflated = DeflatedPayload.of(raw)
    assert deflated.inflate() == raw
    assert deflated.size == len(raw)
    assert len(deflated.blocks) < len(raw) / 4


def test_the_result_is_stored_deflated_not_raw(fake_redis: fakeredis.FakeRedis) -> None:
    raw = orjson.dumps({"buckets": ["x" * 50] * 200})
    cache.result_put(report_key="k", payload=raw, as_of=1.0, fresh_seconds=60, ttl_seconds=600)
    stored = fake_redis.hgetall(result_key("k"))
    assert b"payload" not in stored
    assert not any(raw in value for value in stored.values())
    assert len(stored[b"payload_deflated"]) < len(raw) / 4
    cached = cache.result_get(report_key="k")
    assert cached is not None and cached.payload == raw


def test_a_result_in_the_old_raw_format_reads_as_a_miss(fake_redis: fakeredis.FakeRedis) -> None:
    fake_redis.hset(
        result_key("k"), mapping={"payload": b'{"a":1}', "fresh_until": 2e9, "as_of": 1.0}
    )
    assert cache.result_get(report_key="k") is None
    assert cache.result_lookup(report_key="k", now=2.0) == ("miss", None)
