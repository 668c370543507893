"""Accounts pages: sign-up (404 unless SALSAWEB_SIGNUP is on) and the signed-in user's API token."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from . import selectors, services
from .forms import SignupForm


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    """Create an account and sign it in; the page does not exist while sign-up is off."""
    if not settings.SALSAWEB_SIGNUP:
        raise Http404("sign-up is off")
    if request.user.is_authenticated:
        return redirect("dashboard:datasets")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = services.account_create(username=form.cleaned_data["username"],
                                       password=form.cleaned_data["password1"])
        login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
        messages.success(request, f"Welcome, {user.get_username()}: create a dataset, then upload CSV files to it.")
        return redirect("dashboard:datasets")
    return render(request, "accounts/signup.html", {"form": form}, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def token(request: HttpRequest) -> HttpResponse:
    """Show the user's API token; POST replaces it (the old one stops working) and shows the new one."""
    if request.method == "POST":
        services.token_reset(user=request.user)
        messages.success(request, "New API token: the old one no longer works.")
        return redirect("accounts:token")
    return render(request, "accounts/token.html", {"token": selectors.token_get(user=request.user)})
