from django.contrib import admin
from django.urls import include, path

from helsestasjon import views
from helsestasjon.helseid import views as login_views

urlpatterns = [
    path("", views.home, name="home"),
    path("logg-inn/", login_views.login, name="login"),
    path("logg-ut/", login_views.logout, name="logout"),
    path("helseid/", include("helsestasjon.helseid.urls")),
    path("barn/", views.children, name="children"),
    path("barn/<int:child_id>/tilgangslogg/", views.child_access_log, name="child_access_log"),
    path("", include("attendance.urls")),
    path("oppfolging/", include("followup.urls")),
    path("folkeregister/", include("registry_sync.urls")),
    path("admin/", admin.site.urls),
]
