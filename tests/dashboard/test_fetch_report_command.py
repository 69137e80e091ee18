"""The fetch_report command against the simulated org over HTTP."""

from __future__ import annotations

import orjson
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError


@pytest.fixture
def sim(sim, settings):
    settings.GENESYS_RATE_LIMIT_PER_MINUTE = 60_000
    return sim


def test_the_command_prints_the_buckets_and_the_requests(sim, capsys):
    call_command(
        "fetch_report", "--start", "2024-05-01", "--end", "2024-05-01", "--granularity", "PT1H"
    )
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("2024-05-01 00:00Z to 2024-05-02 00:00Z, PT1H, UTC")
    assert sum(line.startswith("2024-05-01T") for line in lines) == 24
    # The page's KPIs for the source, by the page's own labels and formats.
    assert "Service level %" in lines[1] and "AHT" in lines[1]
    assert lines[-2].startswith("total") and "%" in lines[-2]
    assert lines[-1].startswith("1 pages, 1 requests, 0 retries, 0 rate-limited")


def test_the_command_prints_json(sim, capsys):
    call_command("fetch_report", "--start", "2024-05-01", "--end", "2024-05-01", "--json")

    report = orjson.loads(capsys.readouterr().out)
    assert len(report["buckets"]) == 48
    assert report["source"] == "aggregates"


def test_the_command_names_a_bad_option():
    with pytest.raises(CommandError, match="--tz: unknown time zone 'Mars/Base'"):
        call_command("fetch_report", "--range", "yesterday", "--tz", "Mars/Base")
