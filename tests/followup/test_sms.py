"""SMS: reminder rules and texts, the HTTP gateway backend, the signed idempotent webhook."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from attendance.models import Place, Reason
from followup.models import SmsMessage, SmsStatus
from followup.sms.sending import sms_send
from followup.sms import services
from followup.sms.backends import HttpGatewayBackend
from followup.sms.models import AppointmentCancellationNotice, AppointmentReminder, SmsDeliveryReport
from followup.sms.texts import sms_text
from tests.factories import AppointmentFactory, ConsultationFactory, GuardianFactory, GuardianshipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def outbox():
    from followup.sms.backends import MemoryBackend

    MemoryBackend.outbox.clear()
    yield MemoryBackend.outbox
    MemoryBackend.outbox.clear()


def _appointment(child, nurse, days=2, hour=10, **kw):
    starts = timezone.localtime(timezone.now() + timedelta(days=days)).replace(hour=hour, minute=15, second=0, microsecond=0)
    return AppointmentFactory(consultation=ConsultationFactory(child=child), starts_at=starts, professional=nurse, **kw)


def _guardian(child, responsibility=True, **kw):
    g = GuardianFactory(**kw)
    GuardianshipFactory(child=child, guardian=g, parental_responsibility=responsibility)
    return g


# --------------------------------------------------------------------------- reminders


def test_reminder_goes_to_guardians_with_responsibility_a_mobile_and_no_reservation(child_a, nurse_a, outbox, django_capture_on_commit_callbacks):
    ok = _guardian(child_a, mobile="41000001")
    _guardian(child_a, mobile="41000002", responsibility=False)
    _guardian(child_a, mobile="")
    _guardian(child_a, mobile="41000004", sms_reserved=True)
    _appointment(child_a, nurse_a, days=2)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sms_reminders_send() == 1
    assert [m["to"] for m in outbox] == [ok.mobile]
    assert SmsMessage.objects.get().status == SmsStatus.SENT


def test_reminders_are_sent_once_and_only_inside_the_window(child_a, nurse_a, station_a, outbox, django_capture_on_commit_callbacks):
    _guardian(child_a)
    _appointment(child_a, nurse_a, days=2)
    _appointment(child_a, nurse_a, days=5)
    with django_capture_on_commit_callbacks(execute=True):
        services.sms_reminders_send()
        services.sms_reminders_send()
    assert len(outbox) == 1 and AppointmentReminder.objects.count() == 1
    station_a.sms_reminder_days_before = 5
    station_a.save()
    with django_capture_on_commit_callbacks(execute=True):
        services.sms_reminders_send()
    assert len(outbox) == 2


def test_cancelled_appointments_get_no_reminder(child_a, nurse_a, outbox):
    _guardian(child_a)
    _appointment(child_a, nurse_a, status="cancelled_by_service")
    assert services.sms_reminders_send() == 0


def test_sms_text_has_time_place_and_how_to_change_but_no_health_information(child_a, nurse_a):
    appointment = _appointment(child_a, nurse_a)
    when = timezone.localtime(appointment.starts_at)
    text = sms_text(appointment=appointment, language="nb")
    assert f"{when:%d.%m.%Y} kl. 10:15" in text
    assert "Helsestasjon A" in text and "Helseveien 1" in text and "ring 55 00 00 00" in text
    forbidden = [appointment.consultation.step.name, "ikke møtt", "uteblitt", child_a.given_name, *Reason.labels]
    for word in forbidden:
        assert word.lower() not in text.lower()
    assert "\n" not in text  # Norwegian only for a Norwegian-speaking guardian


@pytest.mark.parametrize("language,word", [("en", "Reminder"), ("pl", "Przypomnienie"), ("uk", "Нагадування"), ("ar", "تذكير"), ("so", "Xusuusin")])
def test_sms_text_is_norwegian_first_then_the_guardians_language(child_a, nurse_a, language, word):
    text = sms_text(appointment=_appointment(child_a, nurse_a), language=language)
    first, second = text.split("\n")
    assert first.startswith("Påminnelse") and word in second


def test_home_visit_text_does_not_name_the_station_address(child_a, nurse_a):
    text = sms_text(appointment=_appointment(child_a, nurse_a, place=Place.HOME), language="nb")
    assert "hjemmebesøk" in text and "Helseveien" not in text



# --------------------------------------------------------------------------- cancelled because the child moved


def test_a_time_cancelled_by_a_move_is_told_once_to_each_guardian_who_can_get_sms(
        child_a, nurse_a, outbox, django_capture_on_commit_callbacks):
    norwegian = _guardian(child_a, mobile="41000011")
    arabic = _guardian(child_a, mobile="41000012", preferred_language="ar")
    _guardian(child_a, mobile="41000013", sms_reserved=True)
    _guardian(child_a, mobile="41000014", responsibility=False)
    appointment = _appointment(child_a, nurse_a, days=12)
    home = _appointment(child_a, nurse_a, days=20, place=Place.HOME)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sms_cancellations_send(appointment_ids=[appointment.pk, home.pk]) == 4
        assert services.sms_cancellations_send(appointment_ids=[appointment.pk, home.pk]) == 0  # a double click
    assert sorted(m["to"] for m in outbox) == sorted([norwegian.mobile, norwegian.mobile, arabic.mobile, arabic.mobile])
    assert AppointmentCancellationNotice.objects.count() == 4
    when = timezone.localtime(appointment.starts_at)
    text = SmsMessage.objects.get(cancellation_notice__appointment=appointment, guardian=norwegian).text
    assert text.startswith(f"Timen {when:%d.%m.%Y} kl. 10:15, Helsestasjon A, Helseveien 1 er avlyst")
    assert "annen helsestasjon" in text and "ring 55 00 00 00" in text and "\n" not in text
    for word in [appointment.consultation.step.name, child_a.given_name, "ikke møtt"]:
        assert word.lower() not in text.lower()
    first, second = SmsMessage.objects.get(cancellation_notice__appointment=home, guardian=arabic).text.split("\n")
    assert "hjemmebesøk" in first and "Helseveien" not in first and "تم إلغاء الموعد" in second



@pytest.mark.parametrize("protection", ["Confidential", "StrictlyConfidential"])
def test_a_child_with_a_protected_address_gets_a_cancellation_notice_without_a_reason(child_a, nurse_a, protection):
    child_a.address_protection = protection
    child_a.save(update_fields=["address_protection"])
    # The guardian shares the child's protection (lives with the child); no one else gets it at all
    # (tests/followup/test_protected_child_messages.py).
    _guardian(child_a, mobile="41000016", preferred_language="en", address_protection=protection)
    appointment = _appointment(child_a, nurse_a, days=12)
    assert services.sms_cancellations_send(appointment_ids=[appointment.pk]) == 1
    first, second = SmsMessage.objects.get().text.split("\n")
    assert "er avlyst. Dere får en ny time." in first and "is cancelled. You will get a new appointment." in second
    text = (first + second).replace("Helsestasjon A", "")  # The old station, where the time was.
    assert "helsestasjon" not in text.lower() and "health centre" not in text


def test_a_queued_reminder_is_not_sent_once_its_time_is_cancelled(child_a, nurse_a, outbox, django_capture_on_commit_callbacks):
    from attendance.cancellations import child_cancel_future

    _guardian(child_a, mobile="41000017")
    appointment = _appointment(child_a, nurse_a, days=2)
    with django_capture_on_commit_callbacks(execute=False):
        assert services.sms_reminders_send() == 1
    assert child_cancel_future(child=child_a, reason="Flyttet til Helsestasjon B") == [appointment.pk]
    message = sms_send(sms_id=SmsMessage.objects.get(reminder__appointment=appointment).id)
    assert outbox == []
    assert message.status == SmsStatus.FAILED and message.error == "Stoppet: timen er ikke lenger bestilt."


def test_a_queued_cancellation_notice_is_not_sent_once_the_child_has_died(child_a, nurse_a, outbox, django_capture_on_commit_callbacks):
    _guardian(child_a, mobile="41000015")
    appointment = _appointment(child_a, nurse_a, days=12)
    with django_capture_on_commit_callbacks(execute=False):
        assert services.sms_cancellations_send(appointment_ids=[appointment.pk]) == 1
    child_a.status = "deceased"
    child_a.save(update_fields=["status"])
    message = sms_send(sms_id=SmsMessage.objects.get().id)
    assert outbox == [] and message.status == SmsStatus.FAILED


# --------------------------------------------------------------------------- the HTTP gateway


class _Response:
    def __init__(self, status, data):
        self.status_code, self._data = status, data

    def json(self):
        return self._data


def test_http_gateway_posts_json_with_the_token(settings, monkeypatch):
    settings.SMS_GATEWAY_URL, settings.SMS_GATEWAY_TOKEN = "https://sms.example/send", "hemmelig"
    calls = []
    monkeypatch.setattr(requests, "post", lambda url, **kw: calls.append((url, kw)) or _Response(202, {"id": "gw-1", "status": "accepted"}))
    result = HttpGatewayBackend().send("41000001", "Hei")
    assert result.id == "gw-1" and result.status == "sent"
    url, kw = calls[0]
    assert url == "https://sms.example/send" and kw["json"] == {"to": "41000001", "text": "Hei"}
    assert kw["headers"]["Authorization"] == "Bearer hemmelig" and kw["timeout"] == settings.SMS_GATEWAY_TIMEOUT_SECONDS


@pytest.mark.parametrize("response", [_Response(500, {}), _Response(200, {"nope": 1}), requests.ConnectionError("down")])
def test_http_gateway_failure_becomes_a_failed_message(settings, monkeypatch, child_a, response):
    settings.SMS_BACKEND = "followup.sms.backends.HttpGatewayBackend"
    settings.SMS_GATEWAY_URL = "https://sms.example/send"

    def post(url, **kw):
        if isinstance(response, Exception):
            raise response
        return response

    monkeypatch.setattr(requests, "post", post)
    message = SmsMessage.objects.create(to="41000001", text="Hei")
    sms_send(sms_id=message.id)
    message.refresh_from_db()
    assert message.status == SmsStatus.FAILED and message.error


# --------------------------------------------------------------------------- the webhook


@pytest.fixture
def webhook(settings, client):
    settings.SMS_WEBHOOK_SECRET = "delt-hemmelighet"

    def post(payload, signature=None):
        body = json.dumps(payload).encode()
        sig = signature if signature is not None else "sha256=" + services.signature_for(body, "delt-hemmelighet")
        return client.post(reverse("followup:sms_delivery_report"), data=body, content_type="application/json", HTTP_X_SIGNATURE=sig)

    return post


def test_a_signed_report_marks_the_message_delivered_once(webhook):
    message = SmsMessage.objects.create(to="41000001", text="Hei", status=SmsStatus.SENT, gateway_id="gw-9")
    report = {"report_id": "r-1", "message_id": "gw-9", "status": "delivered"}
    first = webhook(report)
    assert first.status_code == 200 and first.json() == {"ok": True, "duplicate": False}
    second = webhook(report)
    assert second.status_code == 200 and second.json()["duplicate"] is True
    message.refresh_from_db()
    assert message.status == SmsStatus.DELIVERED
    assert SmsDeliveryReport.objects.count() == 1


def test_an_undelivered_report_marks_the_message_failed_and_a_late_report_does_not_undo_it(webhook):
    message = SmsMessage.objects.create(to="41000001", text="Hei", status=SmsStatus.SENT, gateway_id="gw-7")
    webhook({"report_id": "r-1", "message_id": "gw-7", "status": "undelivered", "error": "Ukjent nummer"})
    webhook({"report_id": "r-2", "message_id": "gw-7", "status": "delivered"})
    message.refresh_from_db()
    assert message.status == SmsStatus.FAILED and message.error == "Ukjent nummer"


def test_a_wrongly_signed_report_is_refused_and_changes_nothing(webhook):
    message = SmsMessage.objects.create(to="41000001", text="Hei", status=SmsStatus.SENT, gateway_id="gw-5")
    response = webhook({"report_id": "r-1", "message_id": "gw-5", "status": "delivered"}, signature="sha256=" + "0" * 64)
    assert response.status_code == 403
    assert webhook({"report_id": "r-1", "message_id": "gw-5", "status": "delivered"}, signature="").status_code == 403
    message.refresh_from_db()
    assert message.status == SmsStatus.SENT and not SmsDeliveryReport.objects.exists()


def test_without_a_secret_every_report_is_refused(webhook, settings):
    settings.SMS_WEBHOOK_SECRET = ""
    assert webhook({"report_id": "r-1", "message_id": "x", "status": "delivered"}, signature="sha256=abc").status_code == 403


def test_a_malformed_report_is_a_400_not_a_500(webhook):
    assert webhook({"status": "delivered"}).status_code == 400
    assert webhook({"report_id": "r", "message_id": "m", "status": "weird"}).status_code == 400


def test_the_webhook_only_accepts_post(client):
    assert client.get(reverse("followup:sms_delivery_report")).status_code == 405


def test_a_queued_reminder_is_never_sent_once_the_child_has_died(child_a, nurse_a, outbox, django_capture_on_commit_callbacks):
    _guardian(child_a, mobile="41000009")
    _appointment(child_a, nurse_a, days=2)
    with django_capture_on_commit_callbacks(execute=False):
        assert services.sms_reminders_send() == 1  # queued; the send task has not run yet
    child_a.status = "deceased"
    child_a.save(update_fields=["status"])
    message = sms_send(sms_id=SmsMessage.objects.get().id)
    assert outbox == []
    assert message.status == SmsStatus.FAILED and "ikke lenger aktivt" in message.error
