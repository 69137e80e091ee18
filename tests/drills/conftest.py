from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.drills.stack import Stack, migrate_template, running_stack


@pytest.fixture(scope="session")
def drill_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """One migrated database with logged-in users, copied by every drill."""
    path = tmp_path_factory.mktemp("drill-template") / "db.sqlite3"
    return path, migrate_template(path)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    # Remembered so the stack fixture can print the processes' logs when a drill failed.
    if report.when == "call":
        item.drill_failed = report.failed  # type: ignore[attr-defined]
    return report


@pytest.fixture
def stack(
    request: pytest.FixtureRequest, tmp_path: Path, drill_template: tuple[Path, dict[str, str]]
) -> Iterator[Stack]:
    with running_stack(tmp_path, *drill_template) as stack:
        yield stack
        if getattr(request.node, "drill_failed", False):
            print(stack.log_tails())
