"""Templates ask helsestasjon.permissions: ``{% load permissions %}`` then ``{% if user|may:"decide" %}``,
and ``{% if user|may_act_on:step %}`` for a follow-up step."""

from __future__ import annotations

from django import template

from helsestasjon import permissions

register = template.Library()


@register.filter
def may(user, name: str) -> bool:
    return permissions.allowed(user, name)


@register.filter
def may_act_on(user, step) -> bool:
    return permissions.may_act_on_step(user, step)
