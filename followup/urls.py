from django.urls import include, path

from followup import views
from followup.sms import views as sms_views

app_name = "followup"
urlpatterns = [
    path("sykepleier/", views.nurse_worklist, name="nurse_worklist"),
    path("merkantil/", views.clerk_worklist, name="clerk_worklist"),
    path("leder/", views.leader_queue, name="leader_queue"),
    path("sak/<int:case_id>/", views.case_detail, name="case"),
    path("sak/<int:case_id>/kronologi.pdf", views.case_chronology_pdf, name="chronology_pdf"),
    path("sak/<int:case_id>/beslutning/", views.case_decide, name="decide"),
    path("sak/<int:case_id>/beslutningsskjema/", views.decision_form, name="decision_form"),
    path("sak/<int:case_id>/fastlege/", views.case_gp_confirmed, name="gp_confirmed"),
    path("sak/<int:case_id>/pause/", views.case_pause, name="pause"),
    path("sak/<int:case_id>/pause/slutt/", views.case_pause_end, name="pause_end"),
    path("trinn/<int:step_id>/samtale/", views.step_call, name="step_call"),
    path("trinn/<int:step_id>/hjemmebesok/", views.step_home_visit, name="step_home_visit"),
    path("trinn/<int:step_id>/samtykke/", views.step_consent, name="step_consent"),
    path("trinn/<int:step_id>/utfort/", views.step_complete, name="step_complete"),
    path("trinn/<int:step_id>/sms/", views.step_sms, name="step_sms"),
    path("trinn/<int:step_id>/hopp-over/", views.step_skip, name="step_skip"),
    path("trinn/<int:step_id>/hopp-over/skjema/", views.step_skip_form, name="step_skip_form"),
    path("barn/<int:child_id>/varsling/", sms_views.manual_contact, name="manual_contact"),
    path("statistikk/", include("followup.statistics.urls")),
    path("", include("followup.letters.urls")),  # the letters part: followup:letters etc.
]
