from django.urls import path

from attendance import views

app_name = "attendance"
urlpatterns = [
    path("dag/", views.day, name="day"),
    path("dag/time/<int:appointment_id>/utfall/", views.record_outcome, name="record_outcome"),
    path("timebestilling/", views.booking_worklist, name="booking_worklist"),
    path("timebestilling/<int:consultation_id>/bestill/", views.book, name="book"),
    path("barn/ny/", views.child_new, name="child_new"),
    path("barn/<int:child_id>/", views.child_detail, name="child"),
]
