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
from dashboard import kpis


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
        # The KPIs the page shows for this source, from the same definitions (dashboard.kpis).
        columns = kpis.table_columns(result)
        widths = [max(len(column["label"]), 9) for column in columns]
        header = "".join(f" {c['label']:>{w}}" for c, w in zip(columns, widths, strict=True))
        self.stdout.write(f"{'bucket start':<26}{header}")
        for row in kpis.table_rows(result):
            cells = "".join(f" {cell:>{w}}" for cell, w in zip(row["cells"], widths, strict=True))
            so_far = f" ({kpis.SO_FAR})" if not row["complete"] else ""
            self.stdout.write(f"{row['start']:<26}{cells}{so_far}")
        totals = kpis.bucket_derive(result["totals"])
        cells = "".join(
            f" {kpis.format_kpi(c['key'], totals[c['key']]):>{w}}"
            for c, w in zip(columns, widths, strict=True)
        )
        self.stdout.write(f"{'total':<26}{cells}")
        fetch = result["fetch"]
        self.stdout.write(
            f"{fetch['pages']} pages, {fetch['requests']} requests, {fetch['retries']} retries, "
            f"{fetch['rate_limited']} rate-limited, {fetch['seconds']} s"
        )
