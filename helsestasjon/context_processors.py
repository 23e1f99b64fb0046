"""Navigation entries for the logged-in user's role."""

from __future__ import annotations

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.translation import gettext_lazy

from helsestasjon import permissions as may
from helsestasjon.models import Role

# (url name, label, the rule of helsestasjon.permissions that shows it). Entries whose URL does not
# exist yet are left out, so an app can add its pages without touching this file twice. The menu
# offers a leader her own queue, not the nurses' and the clerks' lists she may also open.
NAVIGATION = [
    ("attendance:day", gettext_lazy("Min dag"), may.may_hold_consultations),
    ("attendance:booking_worklist", gettext_lazy("Timebestilling"), may.may_book),
    ("attendance:working_hours", gettext_lazy("Arbeidstid"), may.may_edit_working_hours),
    ("followup:nurse_worklist", gettext_lazy("Mine oppfølgingssaker"), lambda user: may.works_list(user, Role.NURSE)),
    ("followup:clerk_worklist", gettext_lazy("Oppgaver merkantil"), lambda user: may.works_list(user, Role.CLERK)),
    ("followup:letters", gettext_lazy("Brev"), lambda user: may.works_list(user, Role.CLERK)),
    ("followup:leader_queue", gettext_lazy("Lederkø"), may.may_see_leader_queue),
    ("followup:statistics:page", gettext_lazy("Statistikk"), may.may_see_statistics),
    ("registry_sync:worklist", gettext_lazy("Folkeregisteret"), may.may_handle_findings),
    ("registry_sync:alerts", gettext_lazy("Varsler"), may.may_see_alerts),
    ("children", gettext_lazy("Barn"), may.may_search_children),
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
        for name, label, shown in NAVIGATION:
            if not shown(user):
                continue
            try:
                items.append({"url": reverse(name), "label": label, "name": name})
            except NoReverseMatch:
                continue
        _cache[key] = items
    return {"nav_items": items}
