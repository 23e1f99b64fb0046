from django.urls import path

from attendance.views import booking, child, day, working_hours

app_name = "attendance"
urlpatterns = [
    path("dag/", day.day, name="day"),
    path("dag/time/<int:appointment_id>/utfall/", day.record_outcome, name="record_outcome"),
    path("timebestilling/", booking.booking_worklist, name="booking_worklist"),
    path("timebestilling/<int:consultation_id>/bestill/", child.book, name="book"),
    path("timebestilling/<int:consultation_id>/bestill-tid/", booking.book_slot, name="book_slot"),
    path("timebestilling/<int:consultation_id>/ledige-tider/", booking.booking_week, name="booking_week"),
    path("dag/time/<int:appointment_id>/flytt/", booking.appointment_move, name="appointment_move"),
    path("arbeidstid/", working_hours.working_hours, name="working_hours"),
    path("barn/ny/", child.child_new, name="child_new"),
    path("barn/<int:child_id>/", child.child_detail, name="child"),
]
