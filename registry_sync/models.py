"""The sync cursor, reconciliation findings, sync errors and national id aliases."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from helsestasjon.models import AddressProtection, Child, Station
from helsestasjon.permissions import may_handle_findings
from helsestasjon.protection import address_visible, is_protected


class FindingKind(models.TextChoices):
    UNREGISTERED_RESIDENT = "unregistered_resident", _("Bosatt barn uten journal (innlemme)")
    MOVED_OUT = "moved_out", _("Flyttet ut av kommunen (overføre journal)")
    MOVED_WITHIN = "moved_within", _("Flyttet i kommunen")
    ADDRESS_CORRECTED = "address_corrected", _("Adresse rettet uten flytting")
    EMIGRATED = "emigrated", _("Utvandret")
    DECEASED = "deceased", _("Død")
    DEATH_ANNULLED = "death_annulled", _("Dødsfall annullert")
    PROTECTION_CHANGED = "protection_changed", _("Adressebeskyttelse endret")
    GUARDIANS_CHANGED = "guardians_changed", _("Foreldreansvar endret")
    ID_CHANGED = "id_changed", _("Fødselsnummer endret")
    NAME_CHANGED = "name_changed", _("Navn endret")
    OTHER_STATUS = "other_status", _("Annen status i folkeregisteret")
    UNKNOWN_TO_REGISTER = "unknown_to_register", _("Ukjent i folkeregisteret (uverifisert identitet)")
    AGED_OUT = "aged_out", _("Fylt 6 år")


class FindingStatus(models.TextChoices):
    OPEN = "open", _("Åpen")
    RESOLVED = "resolved", _("Behandlet")


class Resolution(models.TextChoices):
    AUTOMATIC = "automatic", _("Oppdatert automatisk")
    JOURNAL_CREATED = "journal_created", _("Journal opprettet")
    MOVED_STATION = "moved_station", _("Flyttet til annen helsestasjon")
    TRANSFERRED = "transferred", _("Journal avsluttet og overført")
    UPDATED = "updated", _("Journal oppdatert")
    REVIEWED = "reviewed", _("Gjennomgått")


# Findings the responsible nurses are alerted to (../shared/spec/register-api.md: a death
# "notify the responsible nurse", a death annulled "alert", parental responsibility
# changed "alert the nurse (possible child-welfare placement)").
ALERT_KINDS = (FindingKind.DECEASED, FindingKind.DEATH_ANNULLED, FindingKind.GUARDIANS_CHANGED)


@dataclass(frozen=True)
class FindingActions:
    """What a user may do with a finding: the worklist's buttons and the services' checks alike."""

    handle: bool = False  # Any action at all (mark reviewed with a comment).
    create: bool = False  # "Opprett journal" (or reopen the closed one).
    transfer: bool = False  # "Avslutt og overfør": the child moved out or emigrated.
    update: bool = False  # "Oppdatert": the journal was brought in line by hand.
    move_station: int | None = None  # The station the child belongs to now (its id), to move it there.


class FindingQuerySet(models.QuerySet):
    def open(self) -> "FindingQuerySet":
        return self.filter(status=FindingStatus.OPEN)

    def alerts(self) -> "FindingQuerySet":
        """The nurses' alerts: findings of ALERT_KINDS about a journal child."""
        return self.filter(kind__in=[str(k) for k in ALERT_KINDS], child__isnull=False)

    def unseen_alerts(self) -> "FindingQuerySet":
        return self.alerts().filter(alert_seen_at__isnull=True)

    def for_user(self, user) -> "FindingQuerySet":
        """Findings of the stations the user works at."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(station_id__in=user.station_ids())


class Finding(models.Model):
    """One reconciliation result, with the register snapshot it was based on."""

    kind = models.CharField(_("type"), max_length=24, choices=FindingKind.choices)
    status = models.CharField(_("status"), max_length=10, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="+", verbose_name=_("helsestasjon"))
    child = models.ForeignKey(Child, null=True, blank=True, on_delete=models.CASCADE, related_name="register_findings", verbose_name=_("barn"))
    national_id = models.CharField(_("fødselsnummer"), max_length=11)
    register_person_id = models.CharField(_("register-ID"), max_length=64, blank=True)
    name = models.CharField(_("navn"), max_length=200, blank=True)
    birth_date = models.DateField(_("fødselsdato"), null=True, blank=True)
    protection = models.CharField(
        _("adressebeskyttelse"), max_length=24, choices=AddressProtection.choices, default=AddressProtection.UNCLASSIFIED
    )
    # The same register state never gives the same finding twice: ``subject``
    # is the register person id (or the national id when the register does
    # not know the child) and ``fingerprint`` the register values it rests on.
    subject = models.CharField(_("person"), max_length=64)
    fingerprint = models.CharField(_("grunnlag"), max_length=200)
    details = models.JSONField(_("detaljer"), default=dict, blank=True)
    snapshot = models.JSONField(_("folkeregisterutsnitt"), null=True, blank=True)
    sequence_number = models.BigIntegerField(_("hendelsesnummer"), null=True, blank=True)
    detected_at = models.DateTimeField(_("oppdaget"), default=timezone.now)
    resolution = models.CharField(_("behandling"), max_length=20, choices=Resolution.choices, blank=True)
    resolved_at = models.DateTimeField(_("behandlet"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("behandlet av")
    )
    comment = models.TextField(_("kommentar"), blank=True)
    # Findings a nurse must hear of (ALERT_KINDS) are alerts on the station's
    # nurses' pages until one of them marks it seen; independent of the
    # clerk's or leader's handling of the finding on the worklist.
    alert_seen_at = models.DateTimeField(_("varsel sett"), null=True, blank=True)
    alert_seen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("varsel sett av")
    )

    objects = FindingQuerySet.as_manager()

    class Meta:
        verbose_name = _("funn fra folkeregisteret")
        verbose_name_plural = _("funn fra folkeregisteret")
        ordering = ["detected_at", "id"]
        constraints = [
            # Subject first: the sync looks up a batch's existing findings by subject.
            models.UniqueConstraint(fields=["subject", "kind", "fingerprint"], name="finding_unique_per_register_state"),
            models.CheckConstraint(
                condition=(Q(status="open", resolved_at__isnull=True, resolution="")
                           | Q(status="resolved", resolved_at__isnull=False) & ~Q(resolution="")),
                name="finding_resolution_matches_status",
            ),
        ]
        indexes = [
            # The worklist: open findings of the user's stations by kind and age.
            models.Index(fields=["station", "status", "kind", "detected_at"], name="finding_worklist"),
            # The nurses' alerts not yet seen (few; counted on every day page).
            models.Index(fields=["station", "detected_at"], name="finding_unseen_alerts",
                         condition=Q(alert_seen_at__isnull=True, kind__in=[str(k) for k in ALERT_KINDS])),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.name or self.national_id}"

    @property
    def is_open(self) -> bool:
        return self.status == FindingStatus.OPEN

    @property
    def current_protection(self) -> str:
        """The person's protection now: the journal child's row when there is one; otherwise the
        register's latest answer, which every sync that sees the person writes onto its open findings
        (registry_sync.finding_protection.findings_follow_protection)."""
        if self.child_id is not None:
            return self.child.address_protection
        return self.protection

    @property
    def current_protection_label(self) -> str:
        level = self.current_protection
        return AddressProtection(level).label if level in AddressProtection.values else level

    @property
    def is_protected(self) -> bool:
        return is_protected(self.current_protection)

    def address_visible_to(self, user) -> bool:
        """The one rule (helsestasjon.protection), asked of the person's protection now."""
        return address_visible(self.current_protection, user)

    def actions_for(self, user) -> FindingActions:
        """What this user may do with this finding, by its kind and the user's role (whether it is
        still open is the services' conditional update's to decide: two clicks, one handling)."""
        if not may_handle_findings(user):
            return FindingActions()
        moves_out = self.kind in (FindingKind.MOVED_OUT, FindingKind.EMIGRATED)
        target = (self.details or {}).get("target_station_id") if self.kind == FindingKind.MOVED_WITHIN else None
        return FindingActions(
            handle=True,
            create=self.kind == FindingKind.UNREGISTERED_RESIDENT,
            transfer=moves_out,
            update=not moves_out and self.kind != FindingKind.UNREGISTERED_RESIDENT,
            move_station=target or None,
        )

    def describe(self, *, show_address: bool, names: dict[str, str] | None = None) -> str:
        """One line saying what the register says (registry_sync/finding_text.py)."""
        from registry_sync.finding_text import describe

        return describe(self, show_address=show_address, names=names)


class SyncCursor(models.Model):
    """The last event processed; one row (name "events"), locked while a page is applied."""

    name = models.CharField(max_length=20, unique=True, default="events")
    last_sequence = models.BigIntegerField(_("siste hendelse behandlet"), null=True, blank=True)
    last_event_sync_at = models.DateTimeField(_("siste hendelsessynk"), null=True, blank=True)
    last_full_at = models.DateTimeField(_("siste fullstendige avstemming"), null=True, blank=True)
    full_requested = models.BooleanField(_("fullstendig avstemming bestilt"), default=False)

    class Meta:
        verbose_name = _("synkroniseringsmarkør")
        verbose_name_plural = _("synkroniseringsmarkører")

    def __str__(self) -> str:
        return f"{self.name}: {self.last_sequence}"


class SyncRunKind(models.TextChoices):
    EVENTS = "events", _("Hendelser")
    FULL = "full", _("Fullstendig avstemming")


class SyncError(models.Model):
    """An answer the sync could not use; nothing of it was applied and the cursor did not move."""

    at = models.DateTimeField(_("tidspunkt"), default=timezone.now, db_index=True)
    run = models.CharField(_("kjøring"), max_length=10, choices=SyncRunKind.choices)
    sequence_number = models.BigIntegerField(_("fra hendelse"), null=True, blank=True)
    message = models.TextField(_("feil"))

    class Meta:
        verbose_name = _("synkroniseringsfeil")
        verbose_name_plural = _("synkroniseringsfeil")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.message[:60]}"


class NationalIdAlias(models.Model):
    """A child's former national id (e.g. a D-number replaced by a fødselsnummer)."""

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="national_id_aliases", verbose_name=_("barn"))
    national_id = models.CharField(_("tidligere fødselsnummer"), max_length=11, unique=True)
    replaced_at = models.DateTimeField(_("erstattet"), default=timezone.now)

    class Meta:
        verbose_name = _("tidligere fødselsnummer")
        verbose_name_plural = _("tidligere fødselsnumre")

    def __str__(self) -> str:
        return self.national_id
