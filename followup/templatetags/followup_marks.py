"""``{% followup_mark child %}``: the child's open follow-up case and what it waits for (a pause with its
end date, an agreed time, child welfare's answer), shown on the child's page as on the work lists."""

from __future__ import annotations

from django import template

from followup.models import Case, CaseStatus

register = template.Library()


@register.inclusion_tag("followup/_child_mark.html", takes_context=True)
def followup_mark(context, child):
    case = (
        Case.objects.filter(child_id=child.pk, status=CaseStatus.OPEN, station_id__in=context["user"].station_ids())
        .select_related("current_step", "waiting_for").first()
    )
    if case is not None:
        case.waited_appointment = case.waiting_for
    return {"case": case}
