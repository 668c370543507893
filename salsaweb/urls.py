"""URL routes: home page, health probe, favicon, sign-in and accounts, the dashboard, the REST API and the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, register_converter
from django.views.generic import TemplateView

from salsaweb.converters import IdConverter
from salsaweb.dashboard.views import SignInView
from salsaweb.views import favicon, healthz

register_converter(IdConverter, "id")  # before the apps' routes, which use <id:...>

# The admin's lists need the width at 1280 px (the models are in the breadcrumbs and the index).
admin.site.enable_nav_sidebar = False

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", SignInView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include("salsaweb.accounts.urls")),
    path("favicon.ico", favicon, name="favicon"),
    path("dashboard/", include("salsaweb.dashboard.urls")),
    path("api/", include("salsaweb.api.urls")),
    path("admin/", admin.site.urls),
]
