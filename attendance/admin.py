from django.contrib import admin

from attendance.models import Appointment, Consultation, OutcomeEvent, ProgrammeStep
from helsestasjon.admin import ChildAccessLogMixin, NoAddressLookupsMixin
from helsestasjon.permissions import may_see_clinical_text


@admin.register(ProgrammeStep)
class ProgrammeStepAdmin(admin.ModelAdmin):
    """The programme is data: a municipality adjusts ages and windows here."""

    list_display = ["order", "code", "name", "target_age", "opens_after", "opens_unit", "closes_after", "closes_unit", "professionals"]
    list_display_links = ["code", "name"]
    ordering = ["order"]


@admin.register(Consultation)
class ConsultationAdmin(ChildAccessLogMixin, NoAddressLookupsMixin, admin.ModelAdmin):
    list_display = ["child", "step", "state", "window_opens", "window_closes", "state_changed_at"]
    list_select_related = ["child", "step"]
    list_filter = ["state", "step"]
    raw_id_fields = ["child"]
    search_fields = ["child__national_id", "child__family_name"]


class OutcomeEventInline(admin.TabularInline):
    """Outcome events are facts: shown, never edited (a correction is a new event).

    Their reasons and notes are clinical: the inline is shown only to clinical roles.
    """

    model = OutcomeEvent
    fk_name = "appointment"
    extra = 0
    can_delete = False
    readonly_fields = ["outcome", "reason", "replaces", "recorded_by", "recorded_at", "note"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Appointment)
class AppointmentAdmin(ChildAccessLogMixin, NoAddressLookupsMixin, admin.ModelAdmin):
    list_display = ["starts_at", "child", "consultation", "professional", "place", "status"]
    list_select_related = ["child", "consultation__step", "professional"]
    list_filter = ["status", "place", "station"]
    raw_id_fields = ["child", "consultation", "rescheduled_to"]
    readonly_fields = ["status"]
    date_hierarchy = "starts_at"
    inlines = [OutcomeEventInline]

    def get_inlines(self, request, obj):
        return self.inlines if may_see_clinical_text(request.user) else []
