"""The admin obeys the same rules as the pages: address visibility, the access log, clinical details.

The mixins here are used by every app's admin module:
- ``NoAddressLookupsMixin`` refuses URL lookups on address fields and on the protection level, so a
  protected address cannot be guessed letter by letter with ``?street_address__startswith=``;
- ``ProtectedAddressAdminMixin`` hides a person's address unless ``address_visible`` allows it and
  sends a protection change through ``guardian_set_protection`` / ``child_set_protection``;
- ``ChildAccessLogMixin`` writes the access log for list and change pages that show a child;
- ``ReadOnlyAdminMixin`` shows a log that nobody adds to, changes or deletes from in the admin.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm
from django.db.models.constants import LOOKUP_SEP
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext_lazy as _

from helsestasjon.helseid.services import pid_digest, user_set_national_id
from helsestasjon.models import (
    AccessAction,
    AccessLog,
    AddressProtection,
    Child,
    Guardian,
    Guardianship,
    Municipality,
    SignIn,
    Station,
    User,
)
from helsestasjon.national_id import validator_from_settings
from helsestasjon.protection import ADDRESS_FIELDS, address_visible, child_set_protection, guardian_set_protection
from helsestasjon.services import access_log_record, access_log_record_many

# Where a person lives: the address itself and the codes that narrow it down to a district.
LOCATION_FIELDS = (*ADDRESS_FIELDS, "municipality_number", "urban_district_code")
# No admin URL may filter on these: each filtered list answers a yes/no question about a hidden value.
REFUSED_LOOKUP_PARTS = frozenset((*LOCATION_FIELDS, "address_protection"))


class NoAddressLookupsMixin:
    """Refuse ``?field__lookup=value`` on address fields and the protection level (the admin answers 400)."""

    def lookup_allowed(self, lookup, value, request=None):
        if any(part in REFUSED_LOOKUP_PARTS for part in lookup.split(LOOKUP_SEP)):
            return False
        return super().lookup_allowed(lookup, value, request)


class ChildAccessLogMixin:
    """Write the access log for the children a list or change page shows.

    ``child_attribute`` names the path from a row to its child ("" for a child itself); the list's
    queryset selects the child with the row, and the log for a list is written in one statement.
    """

    child_attribute = "child"

    def _child_of(self, obj):
        return obj if not self.child_attribute else getattr(obj, self.child_attribute)

    def _what(self) -> str:
        # The row's path names the admin page (the model and the object).
        return gettext("Administrasjon")

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = (getattr(response, "context_data", None) or {}).get("cl")
        if changelist is not None:
            children = {child.pk: child for child in map(self._child_of, changelist.result_list) if child is not None}
            access_log_record_many(
                user=request.user, children=children.values(), action=AccessAction.VIEW_LIST, what=self._what(),
                path=request.get_full_path(),
            )
        return response

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        response = super().changeform_view(request, object_id, form_url, extra_context)
        return self._logged(request, response, "original")

    def history_view(self, request, object_id, extra_context=None):
        return self._logged(request, super().history_view(request, object_id, extra_context), "object")

    def delete_view(self, request, object_id, extra_context=None):
        return self._logged(request, super().delete_view(request, object_id, extra_context), "object")

    def _logged(self, request, response, key: str):
        """Log the child of the object a rendered page shows (a redirect after saving shows nothing)."""
        obj = (getattr(response, "context_data", None) or {}).get(key)
        child = self._child_of(obj) if obj is not None and obj.pk is not None else None
        if child is not None:
            access_log_record(user=request.user, child=child, action=AccessAction.VIEW_RECORD, what=self._what(),
                              path=request.get_full_path())
        return response


class ReadOnlyAdminMixin:
    """A log (sign-ins, the access log): rows are written by the application only, and stay."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ProtectedAddressAdminMixin(NoAddressLookupsMixin):
    """A person (child or guardian) whose address follows ``helsestasjon.protection``."""

    @staticmethod
    def set_protection(obj, level: str) -> None:  # pragma: no cover - each admin names its service
        raise NotImplementedError

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is not None and not address_visible(obj.address_protection, request.user):
            return [f for f in fields if f not in LOCATION_FIELDS]
        return fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        field = form.base_fields.get("address_protection")
        if field is not None and obj is not None and not address_visible(obj.address_protection, request.user):
            # Lowering the protection would show the hidden address to the user who lowered it.
            field.choices = [(value, label) for value, label in field.choices if not address_visible(value, request.user)]
        return form

    def save_model(self, request, obj, form, change):
        if change and "address_protection" not in form.changed_data:
            return super().save_model(request, obj, form, change)
        # The rest of the form is saved with the old level; the level itself changes through the
        # protection service, which blanks a strictly confidential address and tells every copy.
        level = obj.address_protection
        obj.address_protection = form.initial.get("address_protection") if change else AddressProtection.UNCLASSIFIED
        super().save_model(request, obj, form, change)
        self.set_protection(obj, level)


@admin.register(Municipality)
class MunicipalityAdmin(admin.ModelAdmin):
    list_display = ["number", "name"]


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    """A station's address is its public visiting address, not a person's."""

    list_display = ["name", "municipality", "phone"]


class NationalIdField(forms.CharField):
    """The staff member's national id, written once and never shown again (stored as a keyed digest)."""

    def __init__(self, **kwargs):
        super().__init__(
            label=_("Fødselsnummer (HelseID)"), required=False, max_length=11, strip=True,
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
            validators=[validator_from_settings],
            help_text=_("Kobler den ansatte til innlogging med HelseID. Lagres bare som et fingeravtrykk og vises "
                        "aldri. La feltet stå tomt for å beholde det som er lagret."),
            **kwargs,
        )


class NationalIdFormMixin:
    def clean_national_id(self):
        value = self.cleaned_data.get("national_id") or ""
        if value and User.objects.filter(national_id_digest=pid_digest(value)).exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("En annen ansatt er allerede registrert med dette fødselsnummeret."))
        return value


class StaffChangeForm(NationalIdFormMixin, UserChangeForm):
    national_id = NationalIdField()


class StaffCreationForm(NationalIdFormMixin, UserAdmin.add_form):
    national_id = NationalIdField()


@admin.register(User)
class StaffAdmin(UserAdmin):
    form = StaffChangeForm
    add_form = StaffCreationForm
    list_display = ["username", "first_name", "last_name", "hpr_number", "role", "is_active", "has_national_id"]
    list_filter = ["role", "is_active", "stations"]
    fieldsets = UserAdmin.fieldsets + (
        (gettext_lazy("Helsestasjon"), {"fields": ("role", "stations", "may_see_protected_addresses")}),
        ("HelseID", {"fields": ("national_id", "hpr_number")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "usable_password", "password1", "password2")}),
        (gettext_lazy("Helsestasjon"), {"fields": ("first_name", "last_name", "role", "stations")}),
        ("HelseID", {"fields": ("national_id", "hpr_number")}),
    )

    @admin.display(boolean=True, description=_("koblet til HelseID"))
    def has_national_id(self, obj) -> bool:
        return bool(obj.national_id_digest)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.cleaned_data.get("national_id"):
            user_set_national_id(user=obj, national_id=form.cleaned_data["national_id"])


@admin.register(SignIn)
class SignInAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The sign-in log: read-only, like the access log."""

    list_display = ["at", "method", "outcome", "username", "security_level", "client_ip"]
    list_filter = ["method", "outcome"]
    search_fields = ["username"]


class GuardianshipInline(admin.TabularInline):
    model = Guardianship
    extra = 0
    raw_id_fields = ["guardian"]


@admin.register(Child)
class ChildAdmin(ChildAccessLogMixin, ProtectedAddressAdminMixin, admin.ModelAdmin):
    list_display = ["national_id", "given_name", "family_name", "birth_date", "station", "status"]
    list_filter = ["station", "status", "special_attention"]
    list_select_related = ["station"]
    search_fields = ["national_id", "family_name"]
    inlines = [GuardianshipInline]
    child_attribute = ""

    @staticmethod
    def set_protection(obj, level):
        child_set_protection(child=obj, level=level)


@admin.register(Guardian)
class GuardianAdmin(ProtectedAddressAdminMixin, admin.ModelAdmin):
    list_display = ["family_name", "given_name", "preferred_language", "address_protection"]
    search_fields = ["national_id", "family_name"]

    @staticmethod
    def set_protection(obj, level):
        guardian_set_protection(guardian=obj, level=level)


@admin.register(AccessLog)
class AccessLogAdmin(ReadOnlyAdminMixin, NoAddressLookupsMixin, admin.ModelAdmin):
    """Reading the log is not logged again: it would log itself without end."""

    list_display = ["at", "username", "role", "child", "action", "what"]
    list_filter = ["action", "role"]
