from django.apps import AppConfig


class FollowupConfig(AppConfig):
    name = "followup"

    def ready(self) -> None:
        # Letters keep copies of addresses: they follow every protection change (helsestasjon.protection).
        from followup.letters import receivers  # noqa: F401
