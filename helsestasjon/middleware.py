"""Session limits and security headers."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse


class SessionLimitsMiddleware:
    """Absolute session lifetime (SESSION_ABSOLUTE_HOURS).

    The idle limit is SESSION_COOKIE_AGE renewed on every request; a disabled
    account is logged out at its next request because ModelBackend refuses to
    load inactive users from the session.
    """

    KEY = "_auth_started_at"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            started = request.session.get(self.KEY)
            now = time.time()
            if started is None:
                request.session[self.KEY] = now
            elif now - started > settings.SESSION_ABSOLUTE_HOURS * 3600:
                logout(request)
                return redirect(f"{reverse('login')}?utlopt=1")
        return self.get_response(request)


class SecurityHeadersMiddleware:
    """Content-Security-Policy everywhere; no caching of pages with personal data."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        if getattr(request, "user", None) is not None and request.user.is_authenticated:
            response.headers["Cache-Control"] = "no-store"
        return response


class RejectNulBytesMiddleware:
    """Answer 400 when a query or form value carries a NUL byte.

    PostgreSQL cannot store or compare text with NUL, so such a value would
    otherwise surface as a server error in whichever view read it first.
    No person types one; it only arrives from broken or hostile clients.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.META.get("QUERY_STRING", "") or "%00" in request.META.get("QUERY_STRING", ""):
            return self._reject(request)
        if request.method == "POST" and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            try:
                values = [v for key in request.POST for v in request.POST.getlist(key)]
            except Exception:  # An unreadable body is Django's to answer with 400.
                values = []
            if any("\x00" in value for value in values):
                return self._reject(request)
        return self.get_response(request)

    @staticmethod
    def _reject(request):
        from django.shortcuts import render

        return render(request, "400.html", {"message": "Forespørselen inneholdt ugyldige tegn."}, status=400)
