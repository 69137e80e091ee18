"""Genesys Cloud regions, and the API/login URLs settings.py derives from GENESYS_REGION."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analytics_worker.genesys.regions import REGIONS, UnknownRegion, region_hosts

BASE_DIR = Path(__file__).resolve().parents[2]


def test_it_knows_the_18_regions_of_the_sdk():
    assert len(REGIONS) == 18
    assert {"mypurecloud.com", "mypurecloud.ie", "usw2.pure.cloud", "mypurecloud.com.au"} <= set(
        REGIONS
    )


@pytest.mark.parametrize("domain", sorted(REGIONS))
def test_each_region_has_an_api_and_a_login_host(domain):
    hosts = region_hosts(domain)
    assert (hosts.api_url, hosts.login_url) == (f"https://api.{domain}", f"https://login.{domain}")


@pytest.mark.parametrize(
    ("given", "domain"),
    [
        ("mypurecloud.ie", "mypurecloud.ie"),
        ("  MyPureCloud.DE ", "mypurecloud.de"),
        ("eu_west_2", "euw2.pure.cloud"),
        ("us_east_2", "use2.us-gov-pure.cloud"),
        ("AP-SOUTHEAST-2", "mypurecloud.com.au"),
    ],
)
def test_it_reads_a_domain_or_an_sdk_name(given, domain):
    assert region_hosts(given).domain == domain


def test_an_unknown_region_lists_the_valid_ones():
    with pytest.raises(UnknownRegion) as caught:
        region_hosts("api.mypurecloud.com")
    message = str(caught.value)
    assert "'api.mypurecloud.com'" in message
    assert all(domain in message for domain in REGIONS)


def settings_urls(**env: str) -> subprocess.CompletedProcess[str]:
    """Import config/settings.py in a fresh interpreter with only these Genesys variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GENESYS_", "SITE_URL"))}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from config import settings as s; print(s.GENESYS_API_URL, s.GENESYS_LOGIN_URL)",
        ],
        cwd=BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_derive_the_hosts_from_the_region():
    found = settings_urls(GENESYS_CLIENT_ID="id", GENESYS_REGION="mypurecloud.ie")
    assert found.stdout.split() == ["https://api.mypurecloud.ie", "https://login.mypurecloud.ie"]


def test_settings_default_to_the_sdks_default_region():
    found = settings_urls(GENESYS_CLIENT_ID="id")
    assert found.stdout.split() == ["https://api.mypurecloud.com", "https://login.mypurecloud.com"]


def test_an_explicit_api_url_overrides_the_region():
    found = settings_urls(
        GENESYS_CLIENT_ID="id",
        GENESYS_REGION="usw2.pure.cloud",
        GENESYS_API_URL="https://api.x.test/",
    )
    assert found.stdout.split() == ["https://api.x.test", "https://login.x.test"]


def test_without_credentials_the_simulator_is_the_site_itself():
    found = settings_urls(SITE_URL="http://example.test:8000", GENESYS_REGION="mypurecloud.de")
    assert found.stdout.split() == ["http://example.test:8000/sim", "http://example.test:8000/sim"]


def test_an_unknown_region_stops_the_start():
    found = settings_urls(GENESYS_CLIENT_ID="id", GENESYS_REGION="mypurecloud.fr")
    assert found.returncode != 0
    assert "ImproperlyConfigured: GENESYS_REGION: unknown Genesys Cloud region" in found.stderr
    assert "mypurecloud.ie" in found.stderr
