"""Session limits, security headers and the Norwegian error pages."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import BadRequest, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views import defaults


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
        response.headers.setdefault("Content-Security-Policy", self.policy())
        if getattr(request, "user", None) is not None and request.user.is_authenticated:
            response.headers["Cache-Control"] = "no-store"
        return response


    @staticmethod
    def policy() -> str:
        """The policy; the login and logout forms redirect to HelseID, so form-action allows its origin too."""
        authority = settings.HELSEID_AUTHORITY
        if not authority:
            return settings.CONTENT_SECURITY_POLICY
        from urllib.parse import urlsplit

        parts = urlsplit(authority)
        return settings.CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", f"form-action 'self' {parts.scheme}://{parts.netloc}", 1
        )


class RejectNulBytesMiddleware:
    """Answer 400 when the path, the query or any request body carries a NUL byte.

    PostgreSQL cannot store or compare text with NUL, so such a value would
    otherwise surface as a server error in whichever view read it first.
    No person types one; it only arrives from broken or hostile clients.

    Every body is checked: form bodies and any other raw body byte by byte,
    JSON also after decoding (``"\\u0000"`` is a NUL once parsed), multipart
    field by field (names, values and file names; a file's content may be binary).
    The raw body is read first and cached by Django, so a view that verifies a
    signature over the body can still read it afterwards.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "\x00" in query or "%00" in query:
            return self._reject(request)
        if request.method not in ("GET", "HEAD", "OPTIONS") and self._body_has_nul(request):
            return self._reject(request)
        return self.get_response(request)

    @staticmethod
    def _body_has_nul(request) -> bool:
        from django.http.multipartparser import MultiPartParserError

        try:
            body = request.body
        except RequestDataTooBig:
            return False  # Django answers 400 when the view reads the data.
        if not body:
            return False
        content_type = request.content_type or ""
        if content_type == "multipart/form-data" and request.method == "POST":  # Django parses multipart for POST only
            try:
                fields = list(request.POST.lists())
                files = list(request.FILES.lists())
            except MultiPartParserError:
                return True  # Unreadable: refused like a NUL, with the same clear 400.
            texts = [name for name, _values in fields + files]
            texts += [value for _name, values in fields for value in values]
            texts += [upload.name or "" for _name, uploads in files for upload in uploads]
            return any("\x00" in text for text in texts)
        if b"\x00" in body:
            return True
        if content_type == "application/x-www-form-urlencoded":
            return b"%00" in body
        if content_type == "application/json" or content_type.endswith("+json"):
            return b"\\u0000" in body and _json_has_nul(body)
        return False

    @staticmethod
    def _reject(request):
        from django.shortcuts import render
        from django.utils.translation import gettext

        return render(request, "400.html", {"message": gettext("Forespørselen inneholdt ugyldige tegn.")}, status=400)


def _json_has_nul(body: bytes) -> bool:
    """Does any key or string in this JSON document hold a NUL once decoded? (Unreadable JSON: no, the view decides.)"""
    import json

    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    pending = [document]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


class NorwegianErrorPagesMiddleware:
    """Our Norwegian 400/404/500 pages also when DEBUG is on (the demo runs with DEBUG).

    With DEBUG, Django answers an Http404, a bad request and an unhandled error with its
    technical English pages, which also show settings and the URL list to whoever asked; a
    nurse who opens another station's child must see the same "Fant ikke siden" as for an
    unknown one. Without DEBUG Django already uses templates/4xx.html and 500.html, so
    this middleware steps aside. TECHNICAL_ERROR_PAGES=true gives a developer Django's
    pages back; the error is logged either way.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    @staticmethod
    def _active() -> bool:
        return settings.DEBUG and not getattr(settings, "TECHNICAL_ERROR_PAGES", False)

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 404 and self._active() and getattr(request, "resolver_match", None) is None:
            # No URL matched: Django's technical page lists every URL pattern.
            return defaults.page_not_found(request, Http404())
        return response

    def process_exception(self, request, exception):
        if not self._active():
            return None
        if isinstance(exception, Http404):
            return defaults.page_not_found(request, exception)
        if isinstance(exception, PermissionDenied):
            return None  # Django renders templates/403.html in every mode.
        if isinstance(exception, (BadRequest, SuspiciousOperation)):
            logging.getLogger("django.security" if isinstance(exception, SuspiciousOperation) else "django.request").warning(
                "Bad request: %s", exception
            )
            return defaults.bad_request(request, exception)
        logging.getLogger("django.request").error("Internal Server Error: %s", request.path, exc_info=exception)
        return defaults.server_error(request)
