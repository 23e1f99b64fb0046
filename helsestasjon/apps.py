from django.apps import AppConfig


class HelsestasjonConfig(AppConfig):
    name = "helsestasjon"
    verbose_name = "Helsestasjon"

    def ready(self) -> None:
        from helsestasjon import checks  # noqa: F401  (registers system checks)
