"""Helpers the register sync's tests share."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.utils import timezone

from attendance.models import Consultation, Place
from attendance.booking import appointment_book
from attendance.plan import child_plan
from registry_sync.models import Finding


def kinds(**filters) -> list[str]:
    """The kinds of the findings (filtered), sorted."""
    return sorted(Finding.objects.filter(**filters).values_list("kind", flat=True))


def book_future(child, nurse):
    """Plan the child and book its last consultation in ten days."""
    child_plan(child=child)
    consultation = Consultation.objects.filter(child=child).order_by("step__order").last()
    starts = timezone.make_aware(datetime.combine(timezone.localdate() + timedelta(days=10), time(10, 0)))
    return appointment_book(consultation=consultation, starts_at=starts, duration_minutes=30, place=Place.STATION,
                            professional=nurse, booked_by=nurse)
