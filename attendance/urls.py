from django.urls import path

from attendance import views

app_name = "attendance"
urlpatterns = [
    path("dag/", views.day, name="day"),
    path("dag/time/<int:appointment_id>/utfall/", views.record_outcome, name="record_outcome"),
    path("timebestilling/", views.booking_worklist, name="booking_worklist"),
    path("timebestilling/<int:consultation_id>/bestill/", views.book, name="book"),
    path("timebestilling/<int:consultation_id>/bestill-tid/", views.book_slot, name="book_slot"),
    path("timebestilling/<int:consultation_id>/ledige-tider/", views.booking_week, name="booking_week"),
    path("dag/time/<int:appointment_id>/flytt/", views.appointment_move, name="appointment_move"),
    path("arbeidstid/", views.working_hours, name="working_hours"),
    path("barn/ny/", views.child_new, name="child_new"),
    path("barn/<int:child_id>/", views.child_detail, name="child"),
]
