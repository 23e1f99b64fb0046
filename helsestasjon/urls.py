from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from helsestasjon import views
from helsestasjon.forms import LoginForm

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "logg-inn/",
        auth_views.LoginView.as_view(authentication_form=LoginForm, redirect_authenticated_user=True),
        name="login",
    ),
    path("logg-ut/", auth_views.LogoutView.as_view(), name="logout"),
    path("barn/", views.children, name="children"),
    path("barn/<int:child_id>/tilgangslogg/", views.child_access_log, name="child_access_log"),
    path("", include("attendance.urls")),
    path("oppfolging/", include("followup.urls")),
    path("folkeregister/", include("registry_sync.urls")),
    path("admin/", admin.site.urls),
]
