from django.urls import path

from attendance import views

app_name = "attendance"
urlpatterns = [
    path("barn/<int:child_id>/", views.child_detail, name="child"),
]
