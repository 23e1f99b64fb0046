"""Included by followup/urls.py without a namespace of its own: names are followup:<name>."""

from django.urls import path

from followup.letters import views
from followup.letters.svarut import views as svarut_views
from followup.sms import views as sms_views

urlpatterns = [
    path("brev/", views.letters, name="letters"),
    path("brev/bunke/", views.letter_batch_start, name="letter_batch_start"),
    path("brev/bunke/<int:batch_id>/status/", views.letter_batch_progress, name="letter_batch_progress"),
    path("brev/bunke/<int:batch_id>/utskrift.pdf", views.letter_batch_pdf, name="letter_batch_pdf"),
    path("brev/bunke/<int:batch_id>/sendt/", views.letter_batch_sent, name="letter_batch_sent"),
    path("brev/<int:letter_id>/brev.pdf", views.letter_pdf, name="letter_pdf"),
    path("brev/<int:letter_id>/sendt/", views.letter_sent, name="letter_sent"),
    path("brev/<int:letter_id>/retur/", views.letter_returned, name="letter_returned"),
    path("brev/<int:letter_id>/prov-igjen/", views.letter_retry, name="letter_retry"),
    path("barn/<int:child_id>/dokumenter/", views.child_letters, name="child_letters"),
    path("sak/<int:case_id>/fastlegebrev/", views.letter_gp_confirmation, name="letter_gp_confirmation"),
    path("brev/digital/", svarut_views.svarut_letters, name="svarut_letters"),
    path("brev/<int:letter_id>/kanal/", svarut_views.letter_channel, name="letter_channel"),
    path("brev/<int:letter_id>/svarut-kontroll/", svarut_views.letter_svarut_resolve, name="letter_svarut_resolve"),
    path("sms/leveringsrapport/", sms_views.delivery_report, name="sms_delivery_report"),
]
