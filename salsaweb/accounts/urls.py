"""Accounts routes under /accounts/ (sign-in and sign-out are the project's)."""
from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("token/", views.token, name="token"),
]
