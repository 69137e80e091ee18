from django.apps import AppConfig


class GenesysSimConfig(AppConfig):
    name = "genesys_sim"
    verbose_name = "Simulated Genesys Cloud org"
