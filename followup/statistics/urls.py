from django.urls import path

from followup.statistics import views

app_name = "statistics"
urlpatterns = [
    path("", views.page, name="page"),
    path("barn/", views.children, name="children"),
    path("kostra.csv", views.kostra_csv, name="kostra_csv"),
    path("rapportert/", views.mark_reported, name="mark_reported"),
]
