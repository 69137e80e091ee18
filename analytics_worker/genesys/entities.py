"""Genesys's paged list endpoints (GET /api/v2/routing/queues, GET /api/v2/users, ...):
`pageSize`/`pageNumber` until `pageCount`, each page's `entities` a list of objects with an id."""

from __future__ import annotations

from typing import Any

from analytics_worker.genesys.errors import GenesysProtocolError
from analytics_worker.genesys.http import FetchProgress, genesys_request

PAGE_SIZE = 100
MAX_PAGES = 1000


def entities_fetch(
    path: str, *, what: str, progress: FetchProgress | None = None
) -> list[dict[str, Any]]:
    """Every entity of the list at `path` that has a string id, page by page, in Genesys's
    order. `what` names the list in errors ("queue list")."""
    found: list[dict[str, Any]] = []
    page_number = 1
    while True:
        body = genesys_request(
            "GET",
            path,
            params={"pageSize": PAGE_SIZE, "pageNumber": page_number},
            progress=progress,
        )
        entities = body.get("entities") if isinstance(body, dict) else None
        if not isinstance(entities, list):
            raise GenesysProtocolError(
                f"The {what} answered without entities: check that GENESYS_API_URL points at "
                "Genesys Cloud"
            )
        found += [e for e in entities if isinstance(e, dict) and isinstance(e.get("id"), str)]
        page_count = body.get("pageCount")
        if not entities or not isinstance(page_count, int) or page_number >= page_count:
            return found
        if page_number >= MAX_PAGES:
            raise GenesysProtocolError(f"The {what} still had pages after {MAX_PAGES:,}; stopped")
        page_number += 1
