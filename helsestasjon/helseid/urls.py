from django.urls import path

from helsestasjon.helseid import views

app_name = "helseid"
urlpatterns = [
    path("start/", views.start, name="start"),
    path("callback/", views.callback, name="callback"),
    path("logget-ut/", views.logged_out, name="logged_out"),
]
