from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from genesys_sim.faults import FaultSpecError, parse_faults


class GenesysSimConfig(AppConfig):
    name = "genesys_sim"
    verbose_name = "Simulated Genesys Cloud org"

    def ready(self) -> None:
        # A typo in the fault spec should stop the server at boot, not surface as a 500 later.
        try:
            parse_faults(settings.GENESYS_SIM_FAULTS)
        except FaultSpecError as error:
            raise ImproperlyConfigured(f"GENESYS_SIM_FAULTS: {error}") from None
