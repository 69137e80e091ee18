"""`manage.py check --deploy` warnings for settings that are fine on a laptop and wrong in
production: the simulated org and its fault injection. Registered by dashboard/apps.py."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register

SIMULATOR_ON = "config.W001"
SIM_FAULTS_ON = "config.W002"


@register(Tags.security, deploy=True)
def simulator_deploy_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    found: list[CheckMessage] = []
    if settings.GENESYS_SIMULATOR:
        found.append(
            Warning(
                "The simulated Genesys org is on (GENESYS_SIMULATOR): the dashboard may show "
                "made-up data, and anyone can get an API token with the simulator's published "
                "credentials.",
                hint=(
                    "Set GENESYS_CLIENT_ID and GENESYS_CLIENT_SECRET for the real org and remove "
                    "GENESYS_SIMULATOR=true (keep it only for a trial of the stack)."
                ),
                id=SIMULATOR_ON,
            )
        )
    if settings.GENESYS_SIMULATOR and settings.GENESYS_SIM_FAULTS_ENABLED:
        found.append(
            Warning(
                "The simulated org's fault injection and control endpoints are on "
                "(GENESYS_SIM_FAULTS_ENABLED): a caller with a simulator token can slow or "
                "break its answers.",
                hint="Remove GENESYS_SIM_FAULTS_ENABLED=true: it is for tests only.",
                id=SIM_FAULTS_ON,
            )
        )
    return found
