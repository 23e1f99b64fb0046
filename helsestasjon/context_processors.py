"""Navigation entries for the logged-in user's role."""

from __future__ import annotations

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.translation import gettext_lazy

from helsestasjon.models import Role

# (url name, label, roles that see it). Entries whose URL does not exist yet
# are left out, so an app can add its pages without touching this file twice.
NAVIGATION = [
    ("attendance:day", gettext_lazy("Min dag"), {Role.NURSE, Role.LEADER}),
    ("attendance:booking_worklist", gettext_lazy("Timebestilling"), {Role.CLERK, Role.NURSE, Role.LEADER}),
    ("attendance:working_hours", gettext_lazy("Arbeidstid"), {Role.CLERK, Role.LEADER}),
    ("followup:nurse_worklist", gettext_lazy("Mine oppfølgingssaker"), {Role.NURSE}),
    ("followup:clerk_worklist", gettext_lazy("Oppgaver merkantil"), {Role.CLERK}),
    ("followup:letters", gettext_lazy("Brev"), {Role.CLERK}),
    ("followup:leader_queue", gettext_lazy("Lederkø"), {Role.LEADER}),
    ("followup:statistics:page", gettext_lazy("Statistikk"), {Role.LEADER, Role.ADMIN}),
    ("registry_sync:worklist", gettext_lazy("Folkeregisteret"), {Role.CLERK, Role.LEADER}),
    ("registry_sync:alerts", gettext_lazy("Varsler"), {Role.NURSE, Role.LEADER}),
    ("children", gettext_lazy("Barn"), {Role.NURSE, Role.CLERK, Role.LEADER, Role.ADMIN}),
]


_cache: dict[tuple[str, str], list[dict]] = {}


@receiver(setting_changed)
def _forget_urls(*, setting, **kwargs):
    if setting == "ROOT_URLCONF":
        _cache.clear()


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    # The entries depend only on the role and the URL prefix: reversed once per
    # process, not nine times on every page.
    key = (user.role, get_script_prefix())
    items = _cache.get(key)
    if items is None:
        items = []
        for name, label, roles in NAVIGATION:
            if user.role not in roles and user.role != Role.ADMIN:
                continue
            try:
                items.append({"url": reverse(name), "label": label, "name": name})
            except NoReverseMatch:
                continue
        _cache[key] = items
    return {"nav_items": items}
