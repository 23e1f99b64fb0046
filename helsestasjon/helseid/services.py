"""Who a HelseID identity is here, and the sign-in log.

HelseID says who the person is; only local users with their local roles and stations get in.
Nothing here creates a user or grants a role.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils.crypto import salted_hmac

from helsestasjon.helseid.oidc import CLAIM_HPR, CLAIM_LEVEL, CLAIM_PID
from helsestasjon.models import SignIn, SignInMethod, SignInOutcome, User

_PID_SALT = "helsestasjon.helseid.pid"


def pid_digest(pid: str, *, secret: str | None = None) -> str:
    """The stored form of a national id: HMAC-SHA256 keyed from SECRET_KEY (or a fallback key)."""
    return salted_hmac(_PID_SALT, pid.strip(), secret=secret or settings.SECRET_KEY, algorithm="sha256").hexdigest()


@transaction.atomic
def user_set_national_id(*, user: User, national_id: str) -> None:
    user.national_id_digest = pid_digest(national_id) if national_id else None
    user.save(update_fields=["national_id_digest"])


def user_for_pid(pid: str) -> User | None:
    """The local user with this national id, under the current key or a fallback key (rehashed then)."""
    user = User.objects.filter(national_id_digest=pid_digest(pid)).first()
    if user is not None:
        return user
    for old in settings.SECRET_KEY_FALLBACKS:
        user = User.objects.filter(national_id_digest=pid_digest(pid, secret=old)).first()
        if user is not None:
            user_set_national_id(user=user, national_id=pid)
            return user
    return None


@dataclass(frozen=True)
class Admission:
    """The outcome of a HelseID login: a user to log in, or a refusal to show."""

    outcome: str
    user: User | None = None

    @property
    def admitted(self) -> bool:
        return self.outcome == SignInOutcome.SUCCESS


def helseid_admit(*, claims: dict, client_ip: str | None) -> Admission:
    """Decide whether a validated ID token lets its person in, and write the attempt to the sign-in log."""
    level = str(claims.get(CLAIM_LEVEL, ""))
    pid = str(claims.get(CLAIM_PID) or "")
    user = user_for_pid(pid) if pid else None
    if not level.isdigit() or int(level) < settings.HELSEID_REQUIRED_SECURITY_LEVEL:
        outcome = SignInOutcome.LOW_LEVEL
    elif user is None:
        outcome = SignInOutcome.UNKNOWN_PERSON
    elif not user.is_active:
        outcome = SignInOutcome.INACTIVE
    else:
        outcome = SignInOutcome.SUCCESS
        hpr = str(claims.get(CLAIM_HPR) or "")
        if hpr.isdigit() and len(hpr) <= 9 and hpr != user.hpr_number:
            # The HPR number is public register data; HelseID's is the current one.
            user.hpr_number = hpr
            user.save(update_fields=["hpr_number"])
    sign_in_record(method=SignInMethod.HELSEID, outcome=outcome, user=user, security_level=level, client_ip=client_ip)
    return Admission(outcome, user if outcome == SignInOutcome.SUCCESS else None)


def sign_in_record(*, method: str, outcome: str, user: User | None = None, username: str = "",
                   security_level: str = "", client_ip: str | None = None, detail: str = "") -> SignIn:
    return SignIn.objects.create(
        method=method, outcome=outcome, user=user, username=(user.get_username() if user else username)[:150],
        security_level=security_level[:2], client_ip=client_ip or None, detail=detail[:200],
    )
