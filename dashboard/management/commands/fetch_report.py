"""Fetch one report from the configured source and print its buckets: an operator's way to test
credentials and filters from a shell, without Celery or the cache."""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from analytics_worker.fetch import report_fetch
from analytics_worker.genesys.errors import GenesysError
from analytics_worker.genesys.http import FetchProgress
from analytics_worker.reports import RANGES, ReportSpecError, report_spec_build
from analytics_worker.timebuckets import GRANULARITY_MINUTES


class Command(BaseCommand):
    help = "Fetch a report from Genesys (or the simulated org) and print its buckets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--range", choices=RANGES, help="preset range (default last_24h)")
        parser.add_argument("--start", help="YYYY-MM-DD or ISO 8601 (implies --range custom)")
        parser.add_argument("--end", help="YYYY-MM-DD (inclusive day) or ISO 8601")
        parser.add_argument("--granularity", choices=list(GRANULARITY_MINUTES))
        parser.add_argument("--tz", help="IANA time zone of the buckets")
        parser.add_argument("--type", action="append", default=[], help="media type (repeat)")
        parser.add_argument("--direction", action="append", default=[], help="inbound/outbound")
        parser.add_argument("--queue", action="append", default=[], help="queue id (repeat)")
        parser.add_argument("--view", help="view id (default all)")
        parser.add_argument("--json", action="store_true", help="print the whole result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        params: dict[str, str | list[str]] = {
            name: options[name]
            for name in ("range", "start", "end", "granularity", "tz", "view")
            if options[name]
        }
        for name in ("type", "direction", "queue"):
            params[name] = options[name]
        try:
            spec = report_spec_build(
                params=params,
                now=timezone.now(),
                default_time_zone=settings.REPORT_DEFAULT_TIME_ZONE,
            )
        except ReportSpecError as exc:
            raise CommandError(f"--{exc.field}: {exc.message}") from None

        def on_wait(seconds: float, reason: str) -> None:
            self.stderr.write(reason)

        try:
            result = report_fetch(spec=spec, progress=FetchProgress(on_wait=on_wait))
        except GenesysError as exc:
            raise CommandError(str(exc)) from None

        if options["json"]:
            self.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
            return
        self.stdout.write(
            f"{spec.start:%Y-%m-%d %H:%M}Z to {spec.end:%Y-%m-%d %H:%M}Z, {spec.granularity}, "
            f"{spec.time_zone}, source {spec.source}, key {spec.key[:12]}"
        )
        self.stdout.write(f"{'bucket start':<26} {'convs':>7} {'avg dur s':>10} {'avg wait s':>10}")
        for bucket in result["buckets"]:
            self.stdout.write(
                f"{bucket['start']:<26} {bucket['conversations']:>7} "
                f"{_avg(bucket, 'duration'):>10} {_avg(bucket, 'wait'):>10}"
            )
        totals, fetch = result["totals"], result["fetch"]
        self.stdout.write(
            f"{'total':<26} {totals['conversations']:>7} "
            f"{_avg(totals, 'duration'):>10} {_avg(totals, 'wait'):>10}"
        )
        self.stdout.write(
            f"{fetch['pages']} pages, {fetch['requests']} requests, {fetch['retries']} retries, "
            f"{fetch['rate_limited']} rate-limited, {fetch['seconds']} s"
        )


def _avg(values: dict[str, Any], name: str) -> str:
    count = values.get(f"{name}_count") or 0
    return f"{values[f'{name}_sum'] / count:.1f}" if count else "-"
