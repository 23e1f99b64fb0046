"""The digital post summary on the clerk's letters page (one aggregate query)."""

from django import template

from followup.letters.svarut.services import svarut_counts

register = template.Library()


@register.inclusion_tag("followup/_svarut_summary.html")
def svarut_summary(station):
    return {"station": station, "counts": svarut_counts(station=station)}
