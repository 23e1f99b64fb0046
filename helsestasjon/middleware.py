"""Session limits and security headers."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import RequestDataTooBig
from django.shortcuts import redirect
from django.urls import reverse


class SessionLimitsMiddleware:
    """Absolute session lifetime (SESSION_ABSOLUTE_HOURS).

    The idle limit is SESSION_COOKIE_AGE, renewed at most once a minute; a disabled
    account is logged out at its next request because ModelBackend refuses to
    load inactive users from the session.
    """

    KEY = "_auth_started_at"
    TOUCHED = "_touched_at"
    # Renewing the idle expiry writes the session row; once a minute is precise
    # enough for a 30-minute limit and spares the database a write per click.
    TOUCH_EVERY_SECONDS = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            session = request.session
            started = session.get(self.KEY)
            now = time.time()
            if started is None:
                session[self.KEY] = now
            elif now - started > settings.SESSION_ABSOLUTE_HOURS * 3600:
                logout(request)
                return redirect(f"{reverse('login')}?utlopt=1")
            if now - session.get(self.TOUCHED, 0) > self.TOUCH_EVERY_SECONDS:
                session[self.TOUCHED] = now  # modified: saved with a fresh idle expiry
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
        if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            # Read the raw body (Django caches it), so a view that verifies a
            # signature over the body can still read it afterwards.
            try:
                body = request.body
            except RequestDataTooBig:
                body = b""  # Django answers 400 when the view reads the data.
            if b"%00" in body or b"\x00" in body:
                return self._reject(request)
        return self.get_response(request)

    @staticmethod
    def _reject(request):
        from django.shortcuts import render

        return render(request, "400.html", {"message": "Forespørselen inneholdt ugyldige tegn."}, status=400)
