""".env.example must list every setting that config/settings.py reads."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_it_lists_every_setting():
    settings_text = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|int|bool|list)\(\s*"([A-Z0-9_]+)"', settings_text))
    listed = set(re.findall(r"^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert len(read) > 20
    assert read - listed == set()


def test_it_holds_no_secret_values():
    example = (ROOT / ".env.example").read_text()
    for name in (
        "SECRET_KEY",
        "GENESYS_CLIENT_SECRET",
        "GENESYS_CLIENT_ID",
        "METRICS_TOKEN",
        "POSTGRES_PASSWORD",
    ):
        assert re.search(rf"^{name}=$", example, re.M), name
