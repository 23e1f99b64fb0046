from django.urls import path

from registry_sync import views

app_name = "registry_sync"
urlpatterns = [
    path("", views.worklist, name="worklist"),
    path("funn/<int:finding_id>/opprett-journal/", views.create_journal, name="create_journal"),
    path("funn/<int:finding_id>/flytt/", views.move_station, name="move_station"),
    path("funn/<int:finding_id>/behandle/", views.resolve, name="resolve"),
    path("varsler/", views.alerts, name="alerts"),
    path("varsler/<int:alert_id>/sett/", views.alert_seen, name="alert_seen"),
]
