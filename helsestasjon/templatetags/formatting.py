"""Template filters for how numbers, dates and names are written (helsestasjon.formatting).

    {% load formatting %}
    {{ child.national_id|national_id }}   110825 61715
    {{ guardian.mobile|phone }}           935 10 030
    {{ child.birth_date|dato }}           11.08.2025
    {{ child|list_name }}                 Nordmann, Kari   (lists)
    {{ child|heading_name }}              Kari Nordmann    (letters, headings)
"""

from django import template

from helsestasjon import formatting

register = template.Library()


@register.filter
def national_id(value) -> str:
    return formatting.national_id_display(value)


@register.filter
def phone(value) -> str:
    return formatting.phone_display(value)


@register.filter
def dato(value) -> str:
    return formatting.date_display(value)


def _name_parts(person) -> tuple[str, str] | None:
    """A child's or guardian's given_name/family_name, or a user's first_name/last_name; None when neither."""
    given = getattr(person, "given_name", None)
    family = getattr(person, "family_name", None)
    if given is None and family is None:
        given, family = getattr(person, "first_name", ""), getattr(person, "last_name", "")
        if not (given or family):
            return None
    return given, family


def _name_filter(person, order) -> str:
    if person is None or person == "":
        return ""
    parts = _name_parts(person)
    return str(person) if parts is None else order(*parts)


@register.filter
def list_name(person) -> str:
    """Anything with given_name and family_name (a child, a guardian, a user's first_name/last_name)."""
    return _name_filter(person, formatting.list_name)


@register.filter
def heading_name(person) -> str:
    return _name_filter(person, formatting.heading_name)
