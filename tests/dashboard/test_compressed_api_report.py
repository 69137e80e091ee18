"""GET /api/report sends the payload as the worker compressed it to a client that accepts
gzip, and inflates it once for one that does not."""

from __future__ import annotations

import gzip
from unittest import mock

import orjson
import pytest
from django.test import Client

from analytics_worker import payload_gzip
from tests.dashboard.helpers import put_report, spec_from_query

pytestmark = pytest.mark.django_db

WEEK_QUERY = "range=custom&start=2024-11-04&end=2024-11-10&tz=America/Chicago&granularity=PT30M"
URL = "/api/report?" + WEEK_QUERY


def test_it_sends_the_stored_gzip_to_a_client_that_accepts_it(
    client_alice: Client, enqueued
) -> None:
    payload = put_report(spec_from_query(WEEK_QUERY))
    plain = client_alice.get(URL)
    with mock.patch.object(payload_gzip.DeflatedPayload, "of", autospec=True) as deflate:
        zipped = client_alice.get(URL, headers={"Accept-Encoding": "gzip, deflate, br"})
    deflate.assert_not_called()  # compressed by the worker, never per request
    assert zipped.status_code == 200
    assert zipped["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped["Vary"]
    assert gzip.decompress(zipped.content) == plain.content
    assert plain.content.startswith(b'{"report":' + payload + b',"')
    assert len(orjson.loads(plain.content)["report"]["buckets"]) == 336
    # The bench's figure: a 7-day, 30-minute report on the wire, compressed vs raw.
    assert len(zipped.content) <= len(plain.content) / 4


@pytest.mark.parametrize("accept", ["", "identity", "gzip;q=0", "br"])
def test_it_inflates_for_a_client_that_does_not_accept_gzip(
    client_alice: Client, enqueued, accept: str
) -> None:
    payload = put_report(spec_from_query(WEEK_QUERY))
    response = client_alice.get(URL, headers={"Accept-Encoding": accept})
    assert response.status_code == 200
    assert "Content-Encoding" not in response
    assert "Accept-Encoding" in response["Vary"]
    assert response.content.startswith(b'{"report":' + payload + b',"')


def test_a_304_carries_vary(client_alice: Client, enqueued) -> None:
    put_report(spec_from_query(WEEK_QUERY))
    etag = client_alice.get(URL, headers={"Accept-Encoding": "gzip"})["ETag"]
    response = client_alice.get(URL, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert response.status_code == 304
    assert "Accept-Encoding" in response["Vary"]
