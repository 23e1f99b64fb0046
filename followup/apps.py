from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupConfig(AppConfig):
    name = "followup"
    verbose_name = _("Oppfølging")

    def ready(self) -> None:
        # Letters keep copies of addresses: they follow every protection change (helsestasjon.protection).
        from followup.letters import receivers  # noqa: F401
