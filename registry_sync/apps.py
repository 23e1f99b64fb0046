from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistrySyncConfig(AppConfig):
    name = "registry_sync"
    verbose_name = _("Folkeregister")

    def ready(self) -> None:
        from helsestasjon.protection import address_protection_changed
        from registry_sync.finding_protection import findings_on_protection_changed

        # A protection change (the sync, the admin, a form) reaches the findings' copies in its transaction.
        address_protection_changed.connect(findings_on_protection_changed, dispatch_uid="registry_sync.findings_follow_protection")
