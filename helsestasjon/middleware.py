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
