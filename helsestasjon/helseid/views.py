"""The login page, the HelseID round trip and logout."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from helsestasjon.backends import client_ip_address
from helsestasjon.forms import LoginForm, password_login_enabled
from helsestasjon.helseid import oidc
from helsestasjon.helseid.services import helseid_admit, sign_in_record
from helsestasjon.models import SignInMethod, SignInOutcome

PENDING_KEY = "helseid_pending"
ID_TOKEN_KEY = "helseid_id_token"
PENDING_LIFETIME_SECONDS = 600
MAX_PENDING = 5
BACKEND = "helsestasjon.backends.StationModelBackend"

# What the user sees for each refusal: a heading, what happened and what to do.
REFUSALS = {
    SignInOutcome.UNKNOWN_PERSON: (403, _("Du har ikke tilgang"), _(
        "Du er logget inn i HelseID, men du er ikke registrert som ansatt i helsestasjonssystemet. "
        "Be lederen din eller systemadministratoren om å registrere deg med fødselsnummeret ditt, og logg inn på nytt.")),
    SignInOutcome.INACTIVE: (403, _("Brukeren din er deaktivert"), _(
        "Kontakt lederen din eller systemadministratoren hvis du fortsatt skal ha tilgang.")),
    SignInOutcome.LOW_LEVEL: (403, _("For lavt sikkerhetsnivå"), _(
        "Helsestasjonen krever innlogging på sikkerhetsnivå %(level)s (BankID, Buypass eller Commfides). "
        "Logg inn på nytt og velg en av disse i HelseID.")),
    SignInOutcome.REJECTED: (400, _("Innloggingen kunne ikke bekreftes"), _(
        "Svaret fra HelseID var ikke gyldig, så du er ikke logget inn. Prøv å logge inn på nytt. "
        "Kontakt systemadministratoren hvis det skjer igjen.")),
    SignInOutcome.STATE: (400, _("Innloggingen er utløpt eller allerede brukt"), _(
        "Start innloggingen på nytt fra innloggingssiden. Bruk ikke tilbakeknappen i nettleseren mens du logger inn.")),
    SignInOutcome.UNAVAILABLE: (503, _("HelseID svarer ikke"), _(
        "Prøv igjen om litt. Kontakt systemadministratoren hvis feilen varer.")),
    SignInOutcome.CANCELLED: (400, _("Innloggingen ble avbrutt"), _(
        "Innloggingen ble avbrutt i HelseID. Start på nytt fra innloggingssiden.")),
}


def _next_url(request, value: str | None) -> str:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return value
    return reverse(settings.LOGIN_REDIRECT_URL)


def refused(request, outcome: str, *, detail: str = "", record: bool = True):
    """The page a refused login shows; the attempt is written to the sign-in log first."""
    if record:
        sign_in_record(method=SignInMethod.HELSEID, outcome=outcome, client_ip=client_ip_address(request), detail=detail)
    status, heading, text = REFUSALS[outcome]
    text = text % {"level": settings.HELSEID_REQUIRED_SECURITY_LEVEL}
    return render(request, "helseid/refused.html", {"heading": heading, "text": text, "outcome": outcome}, status=status)


@sensitive_post_parameters("password", "otp_token")
@never_cache
@require_http_methods(["GET", "POST"])
def login(request):
    """HelseID for everyone, and the password form where it is allowed (break-glass or development)."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.user.is_authenticated:
        return redirect(_next_url(request, next_url))
    form = LoginForm(request, data=request.POST or None) if password_login_enabled() else None
    if request.method == "POST":
        if form is None:
            return render(request, "403.html", status=403)
        if form.is_valid():
            user = form.get_user()
            auth_login(request, user)
            sign_in_record(method=SignInMethod.PASSWORD, outcome=SignInOutcome.SUCCESS, user=user,
                           client_ip=client_ip_address(request))
            return redirect(_next_url(request, next_url))
        codes = {error.code for error in form.non_field_errors().as_data()}
        outcome = next((c for c in (SignInOutcome.PASSWORD_NOT_ALLOWED, SignInOutcome.SECOND_FACTOR, SignInOutcome.INACTIVE)
                        if c in codes), SignInOutcome.REJECTED)
        sign_in_record(method=SignInMethod.PASSWORD, outcome=outcome, username=request.POST.get("username", ""),
                       client_ip=client_ip_address(request), detail="password form refused")
    return render(request, "registration/login.html", {
        "form": form, "next": next_url, "helseid": oidc.configured(),
        "logged_out": "logget_ut" in request.GET, "expired": "utlopt" in request.GET,
    })


@require_POST
def start(request):
    """Push the authorization request and send the browser to HelseID."""
    if not oidc.configured():
        raise Http404
    redirect_uri = request.build_absolute_uri(reverse("helseid:callback"))
    try:
        url, pending = oidc.login_start(redirect_uri=redirect_uri, next_url=_next_url(request, request.POST.get("next")))
    except oidc.HelseIDError as exc:
        return refused(request, SignInOutcome.UNAVAILABLE, detail=str(exc))
    now = time.time()
    pendings = {state: value for state, value in request.session.get(PENDING_KEY, {}).items()
                if now - value["created"] < PENDING_LIFETIME_SECONDS}
    # A few logins may be under way in several tabs; the oldest make room.
    while len(pendings) >= MAX_PENDING:
        pendings.pop(min(pendings, key=lambda s: pendings[s]["created"]))
    pendings[pending.state] = pending.as_dict()
    request.session[PENDING_KEY] = pendings
    return redirect(url)


@never_cache
@require_GET
def callback(request):
    """HelseID sends the browser back here with a code (or an error) and our state."""
    if not oidc.configured():
        raise Http404
    pendings = request.session.get(PENDING_KEY, {})
    stored = pendings.pop(request.GET.get("state", ""), None)
    request.session[PENDING_KEY] = pendings  # the state is used up, whatever happens next
    if stored is None or time.time() - stored["created"] > PENDING_LIFETIME_SECONDS:
        return refused(request, SignInOutcome.STATE, detail="unknown, used or expired state")
    if request.GET.get("error") or not request.GET.get("code"):
        return refused(request, SignInOutcome.CANCELLED, detail=f"error={request.GET.get('error', '')[:50]}")
    pending = oidc.PendingLogin(**stored)
    try:
        claims, id_token = oidc.login_finish(pending=pending, code=request.GET["code"],
                                             issuer_parameter=request.GET.get("iss"))
    except oidc.TokenRejected as exc:
        return refused(request, SignInOutcome.REJECTED, detail=str(exc))
    except oidc.HelseIDError as exc:
        return refused(request, SignInOutcome.UNAVAILABLE, detail=str(exc))
    admission = helseid_admit(claims=claims, client_ip=client_ip_address(request))
    if not admission.admitted:
        return refused(request, admission.outcome, record=False)
    auth_login(request, admission.user, backend=BACKEND)
    request.session[ID_TOKEN_KEY] = id_token
    return redirect(_next_url(request, pending.next_url))


@require_POST
def logout(request):
    """End the local session, then HelseID's (end session with id_token_hint)."""
    id_token = request.session.get(ID_TOKEN_KEY)
    user = request.user if request.user.is_authenticated else None
    auth_logout(request)
    if user is not None:
        sign_in_record(method=SignInMethod.HELSEID if id_token else SignInMethod.PASSWORD,
                       outcome=SignInOutcome.LOGGED_OUT, user=user, client_ip=client_ip_address(request))
    if id_token and oidc.configured():
        url = oidc.end_session_url(id_token=id_token,
                                   post_logout_redirect_uri=request.build_absolute_uri(reverse("helseid:logged_out")))
        if url:
            return redirect(url)
    return redirect(f"{reverse('login')}?logget_ut=1")


@require_GET
def logged_out(request):
    """Where HelseID sends the browser after its own logout."""
    return redirect(f"{reverse('login')}?logget_ut=1")
