from django.contrib import admin

from followup.models import Case, CaseStep, CaseTrigger, LadderSettings, LadderStep, SmsMessage
from helsestasjon.admin import ChildAccessLogMixin, NoAddressLookupsMixin
from helsestasjon.permissions import may_see_clinical_text


@admin.register(LadderStep)
class LadderStepAdmin(admin.ModelAdmin):
    """The ladder per municipality: order, owner role and deadline in working days are editable."""

    list_display = ["municipality", "order", "name", "kind", "owner_role", "deadline_working_days"]
    list_display_links = ["name"]
    list_editable = ["order", "owner_role", "deadline_working_days"]
    list_filter = ["municipality"]
    ordering = ["municipality", "order"]


@admin.register(LadderSettings)
class LadderSettingsAdmin(admin.ModelAdmin):
    """How many unanswered calls, on how many different working days, move the phone step on."""

    list_display = ["municipality", "unanswered_calls", "unanswered_days"]
    list_editable = ["unanswered_calls", "unanswered_days"]


class CaseStepInline(admin.TabularInline):
    """A skipped step's reason is clinical text: shown only to clinical roles (CaseAdmin.get_inlines)."""

    model = CaseStep
    extra = 0
    can_delete = False
    fields = ["cycle", "seq", "name", "owner_role", "started_at", "deadline", "status", "overdue", "ended_by", "skip_reason"]
    readonly_fields = fields


class CaseTriggerInline(admin.TabularInline):
    model = CaseTrigger
    extra = 0
    can_delete = False
    fields = ["kind", "source_key", "occurred_at", "withdrawn_at"]
    readonly_fields = fields


@admin.register(Case)
class CaseAdmin(ChildAccessLogMixin, NoAddressLookupsMixin, admin.ModelAdmin):
    """Read-only: cases change through the work lists and the sweep, never by hand."""

    list_display = ["id", "child", "station", "status", "cycle", "opened_at", "closed_at", "close_reason"]
    list_filter = ["status", "station", "close_reason"]
    list_select_related = ["child", "station"]
    raw_id_fields = ["child"]
    inlines = [CaseTriggerInline, CaseStepInline]
    # What a nurse or leader wrote or decided about the child; the same fields the clerk's pages leave out.
    clinical_fields = ("close_note", "concern_reported_on")

    def get_inlines(self, request, obj):
        if may_see_clinical_text(request.user):
            return self.inlines
        return [inline for inline in self.inlines if inline is not CaseStepInline]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if may_see_clinical_text(request.user):
            return fields
        return [f for f in fields if f not in self.clinical_fields]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(SmsMessage)
class SmsMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "to", "status", "created_at", "sent_at"]
    list_filter = ["status"]
    readonly_fields = ["to", "text", "guardian", "case_step", "status", "gateway_id", "error", "created_by", "created_at", "sent_at"]
