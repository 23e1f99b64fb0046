"""The worklist's actions on findings: create (or reopen) a journal, move a child to its new
station, transfer or mark handled, a nurse's alert seen; and the open findings as JSON.

Which action a user may take on a finding is ``Finding.actions_for(user)``, asked here and by
the worklist view alike. A second click, or a colleague's at the same moment, finds the finding
handled (a conditional UPDATE) and is told so.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from attendance.cancellations import child_cancel_future
from attendance.children import child_register
from followup.letters.making import letters_follow_child_station
from followup.closing import case_follow_child_station
from attendance.cancellations import child_cancel_future
from attendance.children import child_register
from followup.letters.making import letters_follow_child_station
from followup.closing import case_follow_child_station
from followup.sms.services import sms_cancellations_send
from helsestasjon.models import AddressProtection, Child, ChildStatus, Guardian, Relation, Station, User
from helsestasjon.permissions import may_mark_alert_seen
from helsestasjon.protection import storable_address
from helsestasjon.services import child_reopen, child_update_from_register, guardian_get_or_create_organisation
from registry_sync.client import RegisterClient
from registry_sync.person_document import PersonRecord, parse_persons
from registry_sync.register_errors import RegisterError, RegisterProtocolError
from registry_sync.effects import effect_plan
from registry_sync.finding_protection import findings_register_level
from registry_sync.journal_writes import RELATION_FOR_ROLE, guardian_from_register, guardian_without_identifier, relation_of
from registry_sync.models import ALERT_KINDS, Finding, FindingStatus, Resolution
from registry_sync.scope import NORMAL_STATUSES


class FindingActionError(Exception):
    """A worklist action that cannot be done; the message is shown to the user."""


def _allowed(finding: Finding, user: User):
    actions = finding.actions_for(user)
    if not actions.handle:
        raise FindingActionError(gettext("Du kan ikke behandle funn fra folkeregisteret."))
    return actions


def _resolve(finding: Finding, *, user: User, resolution: str, comment: str = "", child: Child | None = None) -> Finding:
    updated = Finding.objects.filter(pk=finding.pk, status=FindingStatus.OPEN).update(
        status=FindingStatus.RESOLVED, resolution=resolution, resolved_at=timezone.now(), resolved_by=user,
        comment=comment[:2000], child=child or finding.child,
    )
    if not updated:
        raise FindingActionError(gettext("Funnet er allerede behandlet."))
    finding.refresh_from_db()
    return finding


# ------------------------------------------------------------------ a journal from a finding

def _register_busy() -> FindingActionError:
    return FindingActionError(gettext("Folkeregisteret svarer ikke akkurat nå. Ingen journal er opprettet; prøv igjen om litt."))


def _fresh_record(finding: Finding, client: RegisterClient) -> PersonRecord:
    """The person as the register gives it out now; a finding's snapshot is never made into a journal."""
    try:
        if finding.register_person_id:
            documents = client.persons_by_id([finding.register_person_id])
        else:
            documents = [doc for doc in [client.person_by_nin(finding.national_id)] if doc is not None]
        records = [record for record, _ in parse_persons(documents)]
    except RegisterProtocolError:
        raise FindingActionError(gettext("Svaret fra folkeregisteret kan ikke leses. Ingen journal er opprettet.")) from None
    except RegisterError:
        raise _register_busy() from None
    wanted = finding.register_person_id
    record = next((r for r in records if not wanted or r.person_id == wanted), None)
    if record is None:
        raise FindingActionError(gettext("Folkeregisteret kjenner ikke lenger denne personen. Ingen journal er opprettet; "
                                         "marker funnet som gjennomgått."))
    if record.is_deceased or record.status not in NORMAL_STATUSES:
        raise FindingActionError(gettext("Personen er ikke lenger bosatt ifølge folkeregisteret. Ingen journal er opprettet; "
                                         "marker funnet som gjennomgått."))
    return record


def finding_create_journal(*, finding: Finding, user: User, client: RegisterClient | None = None) -> Child:
    """Create the journal from the person as the register gives it out now and plan it (catch-up
    rules), or reopen a closed one. The register is asked before the transaction opens."""
    if not _allowed(finding, user).create or not finding.is_open:
        raise FindingActionError(gettext("Dette funnet kan ikke gi en ny journal."))
    if finding.child is not None:
        with transaction.atomic():
            child = child_reopen(child=finding.child, station=finding.station)
            effect_plan(child)
            _resolve(finding, user=user, resolution=Resolution.JOURNAL_CREATED, child=child)
        return child
    client = client or RegisterClient.from_settings()
    record = _fresh_record(finding, client)
    level = record.protection if record.protection in AddressProtection.values else AddressProtection.UNCLASSIFIED
    # The person's findings learn the register's answer (and lose a strictly confidential address)
    # whether or not the journal can be made.
    with transaction.atomic():
        findings_register_level(person_id=record.person_id, level=level)
    finding.refresh_from_db()
    with transaction.atomic():
        return _create_journal(finding=finding, user=user, client=client, record=record, level=level)


def _journal_guardians(record: PersonRecord, client: RegisterClient) -> list[dict]:
    """The new journal's guardians with parental responsibility: the journal's own where it has them,
    the others fetched from the register, those known by name only, and organisations."""
    responsible = {r.national_id for r in record.guardians if r.national_id}
    known = {g.national_id: g for g in Guardian.objects.filter(national_id__in=responsible)}
    unknown = [n for n in responsible if n not in known]
    try:
        fetched = {r.national_id: r for r, _ in parse_persons(client.persons_by_nin(unknown))} if unknown else {}
    except RegisterError:
        raise _register_busy() from None
    roles = dict(record.parents)
    guardians = []
    for nin in sorted(responsible):
        guardian = known.get(nin) or guardian_from_register(nin, fetched.get(nin), record)
        guardians.append({"guardian": guardian, "relation": RELATION_FOR_ROLE.get(roles.get(nin), Relation.OTHER),
                          "parental_responsibility": True})
    for responsibility in record.guardians:
        if responsibility.key[0] == "person":
            guardians.append({"guardian": guardian_without_identifier(responsibility),
                              "relation": relation_of(responsibility), "parental_responsibility": True})
    for organisation in {r.organisation.strip() for r in record.guardians if r.organisation}:
        guardians.append({"guardian": guardian_get_or_create_organisation(name=organisation), "relation": Relation.OTHER,
                          "parental_responsibility": True})
    return guardians


def _create_journal(*, finding: Finding, user: User, client: RegisterClient, record: PersonRecord, level: str) -> Child:
    guardians = _journal_guardians(record, client)
    address = storable_address(level, {"street_address": record.street_address[:200], "postal_code": record.postal_code[:4],
                                       "city": record.city[:100]})
    try:
        child = child_register(
            national_id=record.national_id, given_name=record.given_name or "Ukjent", family_name=record.family_name or "Ukjent",
            birth_date=record.birth_date, sex=record.sex, station=finding.station, guardians=guardians, registered_by=user,
            register_person_id=record.person_id, **address,
            municipality_number=record.municipality_number or "", urban_district_code=record.urban_district_code[:6],
            address_protection=level,
        )
    except ValidationError as exc:
        raise FindingActionError(" ".join(exc.messages)) from None
    _resolve(finding, user=user, resolution=Resolution.JOURNAL_CREATED, child=child)
    return child


# ------------------------------------------------------------------ moving and handling


@transaction.atomic
def finding_move_station(*, finding: Finding, user: User, station: Station) -> Child:
    """Move the child to the station of its new urban district. Its future appointments at
    the old station are cancelled by the station (the consultations are due again and wait
    on the new station's booking worklist), and its open case and unrendered letters go
    with it."""
    if finding.child is None:
        raise FindingActionError(gettext("Dette funnet gjelder ingen journal."))
    if _allowed(finding, user).move_station != station.pk:
        raise FindingActionError(gettext("Fant ikke helsestasjonen barnet skal flyttes til."))
    _resolve(finding, user=user, resolution=Resolution.MOVED_STATION, comment=gettext("Flyttet til %(station)s") % {"station": station.name})
    child = Child.objects.select_for_update().get(pk=finding.child_id)
    if child.status != ChildStatus.ACTIVE:
        raise FindingActionError(
            gettext("Barnet er ikke aktivt i programmet (%(status)s); det flyttes ikke. Marker funnet som gjennomgått.")
            % {"status": child.get_status_display().lower()}
        )
    if child.station_id != station.pk:
        _move_child(finding, child, station, user)
    finding.child = child
    return child


def _move_child(finding: Finding, child: Child, station: Station, user: User) -> None:
    cancelled = child_cancel_future(child=child, reason=(gettext("Flyttet til %(station)s") % {"station": station.name})[:200],
                                    recorded_by=user, register_cause="moved_station")
    # The family is told, so nobody comes to the old station for a time that is gone.
    notified = sms_cancellations_send(appointment_ids=cancelled)
    if cancelled:
        finding.comment = (
            gettext("Flyttet til %(station)s. %(cancelled)s bestilt(e) time(r) avlyst; %(notified)s SMS til foresatte.")
            % {"station": station.name, "cancelled": len(cancelled), "notified": notified}
        )[:2000]
        Finding.objects.filter(pk=finding.pk).update(comment=finding.comment)
    child_update_from_register(child=child, station=station)
    case_follow_child_station(child=child, by=user)
    letters_follow_child_station(child=child)
    # The child's findings still to be handled, and alerts no nurse has seen, go to the new
    # station's worklist and nurses; handled ones stay where they were handled.
    Finding.objects.filter(child=child).filter(
        Q(status=FindingStatus.OPEN) | Q(kind__in=[str(k) for k in ALERT_KINDS], alert_seen_at__isnull=True)
    ).update(station=station)


def finding_alert_seen(*, finding: Finding, user: User) -> bool:
    """A nurse has seen an alert (a death, a death annulled, a change of parental
    responsibility). The first one to mark it is recorded; a second click, or a
    colleague's at the same moment, changes nothing. Returns whether this call marked it."""
    if finding.kind not in ALERT_KINDS or finding.child_id is None:
        raise FindingActionError(gettext("Dette funnet er ikke et varsel."))
    if not may_mark_alert_seen(user):
        raise FindingActionError(gettext("Bare helsesykepleiere markerer varsler som sett."))
    marked = Finding.objects.filter(pk=finding.pk, alert_seen_at__isnull=True).update(
        alert_seen_at=timezone.now(), alert_seen_by=user)
    finding.refresh_from_db()
    return bool(marked)


@transaction.atomic
def finding_resolve(*, finding: Finding, user: User, resolution: str, comment: str = "") -> Finding:
    """Close, transfer, update or mark reviewed with a comment."""
    actions = _allowed(finding, user)
    if resolution not in (Resolution.TRANSFERRED, Resolution.UPDATED, Resolution.REVIEWED):
        raise FindingActionError(gettext("Ukjent behandling."))
    if resolution == Resolution.REVIEWED and not comment.strip():
        raise FindingActionError(gettext("Skriv en kommentar når du markerer funnet som gjennomgått."))
    if resolution == Resolution.TRANSFERRED and not actions.transfer:
        raise FindingActionError(gettext("Bare barn som har flyttet ut kan få journalen overført."))
    if resolution == Resolution.UPDATED and not actions.update:
        raise FindingActionError(gettext("Dette funnet kan ikke markeres som oppdatert."))
    return _resolve(finding, user=user, resolution=resolution, comment=comment)


def findings_open_json() -> list[dict]:
    """The open findings for ``manage.py register_findings --format json``."""
    return [
        {
            "id": f.pk, "national_id": f.national_id, "kind": f.kind, "detected_at": f.detected_at.isoformat(),
            "station": f.station.name, "child_id": f.child_id, "name": f.name, "register_person_id": f.register_person_id,
            "sequence_number": f.sequence_number,
        }
        for f in Finding.objects.open().select_related("station").order_by("detected_at", "id")
    ]
