"""The shared domain: stations, staff and roles, children, guardians, access log."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from helsestasjon.national_id import validator_from_settings

municipality_number_validator = RegexValidator(r"^\d{4}$", _("Kommunenummer har fire sifre."))


class Municipality(models.Model):
    number = models.CharField(_("kommunenummer"), max_length=4, unique=True, validators=[municipality_number_validator])
    name = models.CharField(_("navn"), max_length=100)

    class Meta:
        verbose_name = _("kommune")
        verbose_name_plural = _("kommuner")
        ordering = ["number"]

    def __str__(self) -> str:
        return f"{self.number} {self.name}"


class LetterLanguage(models.TextChoices):
    BOKMAAL = "nb", _("Bokmål")
    NYNORSK = "nn", _("Nynorsk")


class Station(models.Model):
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="stations", verbose_name=_("kommune"))
    name = models.CharField(_("navn"), max_length=120)
    # Empty when the station serves the whole municipality; otherwise the
    # register's urban district (bydel) codes it serves, e.g. ["030101"].
    urban_district_codes = models.JSONField(_("bydelskoder"), default=list, blank=True)
    street_address = models.CharField(_("besøksadresse"), max_length=200, blank=True)
    postal_code = models.CharField(_("postnummer"), max_length=4, blank=True)
    city = models.CharField(_("poststed"), max_length=100, blank=True)
    phone = models.CharField(_("telefon"), max_length=20, blank=True)
    email = models.EmailField(_("e-post"), blank=True)
    letter_language = models.CharField(_("målform i brev"), max_length=2, choices=LetterLanguage.choices, default=LetterLanguage.BOKMAAL)
    sms_reminder_days_before = models.PositiveSmallIntegerField(_("SMS-påminnelse dager før"), default=2)
    send_invitation_letters = models.BooleanField(_("send innkallingsbrev ved booking"), default=False)
    # An invitation letter only for an appointment at least this many days away (time for the post);
    # a nearer one gets the SMS reminder only.
    invitation_letter_min_days = models.PositiveSmallIntegerField(
        _("innkallingsbrev minst dager før"), default=7, validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text=_("Nærmere timer får bare SMS-påminnelse, fordi brevet ikke rekker fram i tide."),
    )
    # What the station's letters that cannot go digitally use (followup/letters/svarut/channel.py).
    paper_channel = models.CharField(
        _("papirbrev sendes med"), max_length=12, default="local_print",
        choices=[("svarut_print", _("SvarUt skriver ut og sender")), ("local_print", _("Lokal utskrift"))],
    )

    class Meta:
        verbose_name = _("helsestasjon")
        verbose_name_plural = _("helsestasjoner")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["municipality", "name"], name="station_unique_name")]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    NURSE = "nurse", _("Helsesykepleier")
    CLERK = "clerk", _("Merkantil")
    LEADER = "leader", _("Leder")
    ADMIN = "admin", _("Administrator")


class UserQuerySet(models.QuerySet):
    def holding_consultations(self) -> "UserQuerySet":
        """Active staff who hold consultations: everyone but clerks (helsestasjon.permissions.holds_consultations)."""
        from helsestasjon.permissions import NON_CONSULTING_ROLES

        return self.filter(is_active=True).exclude(role__in=NON_CONSULTING_ROLES)


class StaffManager(UserManager.from_queryset(UserQuerySet)):
    pass


class User(AbstractUser):
    role = models.CharField(_("rolle"), max_length=10, choices=Role.choices, default=Role.NURSE)
    stations = models.ManyToManyField(Station, blank=True, related_name="staff", verbose_name=_("helsestasjoner"))
    may_see_protected_addresses = models.BooleanField(
        _("kan se beskyttede adresser"),
        default=False,
        help_text=_("Gir tilgang til adresser med fortrolig adressebeskyttelse. Strengt fortrolige adresser vises aldri."),
    )
    # HelseID's pid (the staff member's national id) as a keyed HMAC (helsestasjon.helseid.services.pid_digest):
    # enough to recognise the person at login, useless to anyone who reads the table without the key.
    national_id_digest = models.CharField(_("fødselsnummer (fingeravtrykk)"), max_length=64, unique=True, null=True,
                                          blank=True, editable=False)
    hpr_number = models.CharField(_("HPR-nummer"), max_length=9, blank=True,
                                  validators=[RegexValidator(r"^\d{1,9}$", _("HPR-nummeret er inntil ni sifre."))])

    objects = StaffManager()

    class Meta:
        verbose_name = _("ansatt")
        verbose_name_plural = _("ansatte")

    @property
    def display_name(self) -> str:
        """The name with the HPR number beside it, as the page header shows it."""
        name = self.get_full_name() or self.get_username()
        return f"{name} (HPR {self.hpr_number})" if self.hpr_number else name

    @property
    def is_leader(self) -> bool:
        return self.role == Role.LEADER

    @property
    def is_admin_role(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def sees_clinical_details(self) -> bool:
        """helsestasjon.permissions.may_see_clinical_text, for the admin's and the templates' convenience."""
        from helsestasjon.permissions import may_see_clinical_text

        return may_see_clinical_text(self)

    def station_ids(self) -> list[int]:
        # Cached on the instance: one query per request however many checks ask.
        if not hasattr(self, "_station_ids"):
            if self.role == Role.ADMIN:
                self._station_ids = list(Station.objects.values_list("id", flat=True))
            else:
                # The link table alone, without joining the stations.
                links = self.stations.through.objects.filter(user_id=self.pk).order_by("station_id")
                self._station_ids = list(links.values_list("station_id", flat=True))
        return self._station_ids


class AddressProtection(models.TextChoices):
    UNCLASSIFIED = "Unclassified", _("Ingen")
    CLIENT_ADDRESS = "ClientAddress", _("Klientadresse")
    CONFIDENTIAL = "Confidential", _("Fortrolig")
    STRICTLY_CONFIDENTIAL = "StrictlyConfidential", _("Strengt fortrolig")

PROTECTED_LEVELS = (AddressProtection.CONFIDENTIAL, AddressProtection.STRICTLY_CONFIDENTIAL)


class ChildStatus(models.TextChoices):
    ACTIVE = "active", _("Aktiv")
    MOVED = "moved", _("Flyttet")
    EMIGRATED = "emigrated", _("Utvandret")
    DECEASED = "deceased", _("Død")
    AGED_OUT = "aged_out", _("Avsluttet (over 6 år)")


class Sex(models.TextChoices):
    FEMALE = "female", _("Jente")
    MALE = "male", _("Gutt")
    UNKNOWN = "unknown", _("Ukjent")


class ChildQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ChildQuerySet":
        """Children of the stations the user works at (the one place that rule lives)."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        return self.filter(station_id__in=user.station_ids())


class Person:
    """What a child and a guardian share: the names as lists show them and the protected-address rule,
    asked of the person's protection now (helsestasjon.protection). `full_name` is each model's own."""

    def __str__(self) -> str:
        return self.full_name

    @property
    def list_name(self) -> str:
        """"Etternavn, Fornavn", as lists show it (helsestasjon.formatting)."""
        from helsestasjon.formatting import list_name

        return list_name(self.given_name, self.family_name)

    @property
    def address_is_protected(self) -> bool:
        return self.address_protection in PROTECTED_LEVELS

    def address_visible_to(self, user) -> bool:
        """The rule of helsestasjon.protection, asked of this person's protection now."""
        from helsestasjon.protection import address_visible

        return address_visible(self.address_protection, user)

    def stored_address(self, level: str | None = None) -> dict:
        """The address fields as they may be stored under ``level`` (default: the protection now):
        blanked when strictly confidential. The one blanking rule is helsestasjon.protection.storable_address."""
        from helsestasjon.protection import ADDRESS_FIELDS, storable_address

        return storable_address(level or self.address_protection, {name: getattr(self, name) for name in ADDRESS_FIELDS})


class Child(Person, models.Model):
    national_id = models.CharField(_("fødselsnummer"), max_length=11, unique=True, validators=[validator_from_settings])
    given_name = models.CharField(_("fornavn"), max_length=100)
    family_name = models.CharField(_("etternavn"), max_length=100)
    birth_date = models.DateField(_("fødselsdato"))
    sex = models.CharField(_("kjønn"), max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="children", verbose_name=_("helsestasjon"))
    special_attention = models.BooleanField(_("særlig oppfølging"), default=False)
    status = models.CharField(_("status"), max_length=10, choices=ChildStatus.choices, default=ChildStatus.ACTIVE)
    # The day the status changed as the register dates it (a death, a move, an emigration), and when
    # the journal learnt of it (the sync's time): docs/decisions.md, "The register sync in rooms".
    status_changed_at = models.DateTimeField(_("status endret"), default=timezone.now)
    status_recorded_at = models.DateTimeField(_("status registrert"), default=timezone.now)
    register_person_id = models.CharField(_("register-ID"), max_length=64, null=True, blank=True, unique=True)
    # The child's residential address, from the register (or entered by hand).
    street_address = models.CharField(_("adresse"), max_length=200, blank=True)
    postal_code = models.CharField(_("postnummer"), max_length=4, blank=True)
    city = models.CharField(_("poststed"), max_length=100, blank=True)
    municipality_number = models.CharField(_("kommunenummer"), max_length=4, blank=True)
    urban_district_code = models.CharField(_("bydelskode"), max_length=6, blank=True)
    address_protection = models.CharField(
        _("adressebeskyttelse"), max_length=24, choices=AddressProtection.choices, default=AddressProtection.UNCLASSIFIED
    )
    # Registered by hand because the register did not know the national id (issue 18); the register
    # sync confirms the child when the register learns of it.
    unverified = models.BooleanField(_("uverifisert"), default=False)
    created_at = models.DateTimeField(_("opprettet"), auto_now_add=True)

    objects = ChildQuerySet.as_manager()

    class Meta:
        verbose_name = _("barn")
        verbose_name_plural = _("barn")
        ordering = ["family_name", "given_name"]
        indexes = [models.Index(fields=["station", "status"], name="child_station_status")]

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def national_id_display(self) -> str:
        from helsestasjon.formatting import national_id_display

        return national_id_display(self.national_id)

    def age_text(self, on=None) -> str:
        from helsestasjon.dates import age_text

        return age_text(self.birth_date, on or timezone.localdate())




class Language(models.TextChoices):
    NB = "nb", "Norsk (bokmål)"
    NN = "nn", "Norsk (nynorsk)"
    EN = "en", "English"
    PL = "pl", "Polski"
    UK = "uk", "Українська"
    AR = "ar", "العربية"
    SO = "so", "Soomaali"


class Guardian(Person, models.Model):
    national_id = models.CharField(
        _("fødselsnummer"), max_length=11, unique=True, null=True, blank=True, validators=[validator_from_settings]
    )
    given_name = models.CharField(_("fornavn"), max_length=100, blank=True)
    family_name = models.CharField(_("etternavn / navn"), max_length=150)
    organisation = models.BooleanField(
        _("virksomhet"), default=False, help_text=_("Barneverntjeneste eller institusjon, ikke en person.")
    )
    mobile = models.CharField(_("mobilnummer"), max_length=20, blank=True)
    preferred_language = models.CharField(_("foretrukket språk"), max_length=5, choices=Language.choices, default=Language.NB)
    interpreter_needed = models.BooleanField(_("trenger tolk"), default=False)
    sms_reserved = models.BooleanField(_("reservert mot digital kontakt"), default=False)
    # The contact register (KRR) as the register last gave it: reserved against digital contact
    # ("reservation": "Yes"), and the digital mailbox when the record is Active (empty: none).
    # followup/letters/svarut/channel.py decides a letter's channel from these.
    krr_reserved = models.BooleanField(_("reservert mot digital post"), default=False)
    digital_mailbox = models.CharField(_("digital postkasse"), max_length=100, blank=True)
    street_address = models.CharField(_("adresse"), max_length=200, blank=True)
    postal_code = models.CharField(_("postnummer"), max_length=4, blank=True)
    city = models.CharField(_("poststed"), max_length=100, blank=True)
    municipality_number = models.CharField(_("kommunenummer"), max_length=4, blank=True)
    address_protection = models.CharField(
        _("adressebeskyttelse"), max_length=24, choices=AddressProtection.choices, default=AddressProtection.UNCLASSIFIED
    )
    register_person_id = models.CharField(_("register-ID"), max_length=64, null=True, blank=True, unique=True)

    class Meta:
        verbose_name = _("foresatt")
        verbose_name_plural = _("foresatte")
        ordering = ["family_name", "given_name"]

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}".strip()

    @property
    def mobile_display(self) -> str:
        """The mobile number as ``935 10 030``."""
        from helsestasjon.formatting import phone_display

        return phone_display(self.mobile)

    def address_lines(self) -> list[str]:
        lines = [self.street_address] if self.street_address else []
        if self.postal_code or self.city:
            lines.append(f"{self.postal_code} {self.city}".strip())
        return lines


class Relation(models.TextChoices):
    MOTHER = "mother", _("Mor")
    FATHER = "father", _("Far")
    CO_MOTHER = "co_mother", _("Medmor")
    OTHER = "other", _("Annen")
    FOSTER_HOME = "foster_home", _("Fosterhjem")
    EMERGENCY_FOSTER_HOME = "emergency_foster_home", _("Beredskapshjem")
    INSTITUTION = "institution", _("Institusjon")


class GuardianshipQuerySet(models.QuerySet):
    def with_responsibility(self):
        return self.filter(parental_responsibility=True)


class Guardianship(models.Model):
    """A guardian's (or caretaker's) relation to one child."""

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="guardianships", verbose_name=_("barn"))
    guardian = models.ForeignKey(Guardian, on_delete=models.CASCADE, related_name="guardianships", verbose_name=_("foresatt"))
    relation = models.CharField(_("relasjon"), max_length=24, choices=Relation.choices)
    parental_responsibility = models.BooleanField(_("foreldreansvar"), default=False)
    # A placed child's daily caretaker receives the practical letters even
    # without parental responsibility (see docs/decisions.md).
    is_caretaker = models.BooleanField(_("daglig omsorg"), default=False)

    objects = GuardianshipQuerySet.as_manager()

    class Meta:
        verbose_name = _("foresatt-relasjon")
        verbose_name_plural = _("foresatt-relasjoner")
        constraints = [models.UniqueConstraint(fields=["child", "guardian"], name="guardianship_unique_pair")]

    def __str__(self) -> str:
        return f"{self.guardian} → {self.child} ({self.get_relation_display()})"


class AccessAction(models.TextChoices):
    VIEW_RECORD = "view_record", _("Så journal")
    VIEW_PDF = "view_pdf", _("Lastet ned PDF")
    VIEW_LETTER = "view_letter", _("Lastet ned brev")
    EXPORT = "export", _("Eksport")
    VIEW_LIST = "view_list", _("Så barnet i en liste")


class AccessLog(models.Model):
    """Append-only: a database trigger rejects UPDATE and DELETE (migration 0002)."""

    at = models.DateTimeField(_("tidspunkt"), default=timezone.now, db_index=True)
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+", verbose_name=_("bruker"))
    username = models.CharField(_("brukernavn"), max_length=150)
    role = models.CharField(_("rolle"), max_length=10, choices=Role.choices)
    child = models.ForeignKey(Child, on_delete=models.PROTECT, related_name="access_log", verbose_name=_("barn"))
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="+", verbose_name=_("helsestasjon"))
    action = models.CharField(_("handling"), max_length=20, choices=AccessAction.choices)
    what = models.CharField(_("hva"), max_length=200)
    path = models.CharField(_("adresse"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("tilgangslogg")
        verbose_name_plural = _("tilgangslogg")
        ordering = ["-at"]
        indexes = [models.Index(fields=["child", "-at"], name="accesslog_child_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.action} {self.child_id}"


class SignInMethod(models.TextChoices):
    HELSEID = "helseid", _("HelseID")
    PASSWORD = "password", _("Passord")


class SignInOutcome(models.TextChoices):
    SUCCESS = "success", _("Logget inn")
    UNKNOWN_PERSON = "unknown_person", _("Ukjent person")
    INACTIVE = "inactive", _("Deaktivert bruker")
    LOW_LEVEL = "low_level", _("For lavt sikkerhetsnivå")
    REJECTED = "rejected", _("Ugyldig svar fra HelseID")
    STATE = "state", _("Ukjent eller brukt innloggingsforsøk")
    UNAVAILABLE = "unavailable", _("HelseID svarte ikke")
    CANCELLED = "cancelled", _("Avbrutt i HelseID")
    PASSWORD_NOT_ALLOWED = "password_not_allowed", _("Passord ikke tillatt for rollen")
    SECOND_FACTOR = "second_factor", _("Manglende eller feil engangskode")
    LOGGED_OUT = "logged_out", _("Logget ut")


class SignIn(models.Model):
    """Every login attempt, refused or not, and every logout. Append-only (migration 0004)."""

    at = models.DateTimeField(_("tidspunkt"), default=timezone.now, db_index=True)
    method = models.CharField(_("metode"), max_length=10, choices=SignInMethod.choices)
    outcome = models.CharField(_("utfall"), max_length=24, choices=SignInOutcome.choices)
    user = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
                             verbose_name=_("bruker"))
    username = models.CharField(_("brukernavn"), max_length=150, blank=True)
    security_level = models.CharField(_("sikkerhetsnivå"), max_length=2, blank=True)
    client_ip = models.GenericIPAddressField(_("IP-adresse"), null=True, blank=True)
    # A short technical reason in English for the operator (never a national id).
    detail = models.CharField(_("detaljer"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("innlogging")
        verbose_name_plural = _("innloggingslogg")
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username or '-'} {self.outcome}"
