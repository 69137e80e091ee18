"""Genesys Cloud regions: which API and login hosts an org lives on (the region table of the official SDKs,
purecloud_region_hosts.py in MyPureCloud/platform-client-sdk-python).

Every region is a domain; the API host is `api.<domain>` and the login host `login.<domain>`
(the official SDKs derive one from the other). The table is the Python SDK's
`PureCloudRegionHosts` (18 regions). config/settings.py imports this module, so it must not
import Django.
"""

from __future__ import annotations

from dataclasses import dataclass

# domain -> the SDK enum name
REGIONS: dict[str, str] = {
    "mypurecloud.com": "us_east_1",
    "use2.us-gov-pure.cloud": "us_east_2",
    "usw2.pure.cloud": "us_west_2",
    "cac1.pure.cloud": "ca_central_1",
    "sae1.pure.cloud": "sa_east_1",
    "mxc1.pure.cloud": "mx_central_1",
    "mypurecloud.ie": "eu_west_1",
    "euw2.pure.cloud": "eu_west_2",
    "mypurecloud.de": "eu_central_1",
    "euc2.pure.cloud": "eu_central_2",
    "edee1.eusc-pure.cloud": "eusc_de_east_1",
    "mec1.pure.cloud": "me_central_1",
    "aps1.pure.cloud": "ap_south_1",
    "mypurecloud.jp": "ap_northeast_1",
    "apne2.pure.cloud": "ap_northeast_2",
    "apne3.pure.cloud": "ap_northeast_3",
    "apse1.pure.cloud": "ap_southeast_1",
    "mypurecloud.com.au": "ap_southeast_2",
}
# The SDKs' default region.
DEFAULT_REGION = "mypurecloud.com"

_BY_SDK_NAME = {sdk_name: domain for domain, sdk_name in REGIONS.items()}


class UnknownRegion(ValueError):
    pass


@dataclass(frozen=True)
class RegionHosts:
    domain: str
    api_url: str
    login_url: str
    # Genesys Cloud's own web app: a conversation opens at
    # <apps_url>/directory/#/engage/admin/interactions/<conversation id>.
    apps_url: str


def region_hosts(region: str) -> RegionHosts:
    """The hosts of a region, given as its domain (`mypurecloud.ie`) or its SDK name
    (`eu_west_1`, or `eu-west-1`). Raises UnknownRegion, listing the valid domains."""
    name = region.strip().lower()
    domain = name if name in REGIONS else _BY_SDK_NAME.get(name.replace("-", "_"))
    if domain is None:
        valid = ", ".join(REGIONS)
        raise UnknownRegion(f"unknown Genesys Cloud region {region.strip()!r}; use one of: {valid}")
    return RegionHosts(
        domain=domain,
        api_url=f"https://api.{domain}",
        login_url=f"https://login.{domain}",
        apps_url=f"https://apps.{domain}",
    )
