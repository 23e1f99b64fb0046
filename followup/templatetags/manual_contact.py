"""``{% manual_contact child fra="barn" %}``: the manual decisions for a protected child's guardians
who get no automatic messages, shown alike on the child's page and the case page."""

from __future__ import annotations

from django import template

from followup.recipients import manual_contact_decisions
from followup.sms.models import ContactDecision
from helsestasjon.permissions import may_decide_manual_contact

register = template.Library()


def manual_contact_context(*, child, user, fra: str, error: str = "", done: str = "") -> dict:
    rows = manual_contact_decisions(child=child)
    return {
        "child": child,
        "rows": rows,
        "needed": any(row["decision"] is None for row in rows),
        # Who may decide, and read the reasons (helsestasjon.permissions).
        "may_decide": may_decide_manual_contact(user),
        "choices": ContactDecision.choices,
        "fra": fra,
        "error": error,
        "done": done,
    }


@register.inclusion_tag("followup/_manual_contact.html", takes_context=True)
def manual_contact(context, child, fra: str = "barn"):
    return manual_contact_context(child=child, user=context["user"], fra=fra) | {"csrf_token": context.get("csrf_token")}
