from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from helsestasjon.models import AccessAction, AccessLog, Child, Guardian, Guardianship, Municipality, Station, User
from helsestasjon.services import access_log_record


@admin.register(Municipality)
class MunicipalityAdmin(admin.ModelAdmin):
    list_display = ["number", "name"]


@admin.register(Station)
class StationAdmin(admin.ModelAdmin):
    list_display = ["name", "municipality", "phone"]


@admin.register(User)
class StaffAdmin(UserAdmin):
    list_display = ["username", "first_name", "last_name", "role", "is_active"]
    list_filter = ["role", "is_active", "stations"]
    fieldsets = UserAdmin.fieldsets + (("Helsestasjon", {"fields": ("role", "stations", "may_see_protected_addresses")}),)


class GuardianshipInline(admin.TabularInline):
    model = Guardianship
    extra = 0
    raw_id_fields = ["guardian"]


@admin.register(Child)
class ChildAdmin(admin.ModelAdmin):
    list_display = ["national_id", "given_name", "family_name", "birth_date", "station", "status"]
    list_filter = ["station", "status", "special_attention"]
    search_fields = ["national_id", "family_name"]
    inlines = [GuardianshipInline]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The admin's view of a child is a view of the record like any other.
        child = self.get_object(request, object_id)
        if child is not None and request.method == "GET":
            access_log_record(user=request.user, child=child, action=AccessAction.VIEW_RECORD, what="Administrasjon",
                              path=request.get_full_path())
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Guardian)
class GuardianAdmin(admin.ModelAdmin):
    list_display = ["family_name", "given_name", "preferred_language", "address_protection"]
    search_fields = ["national_id", "family_name"]

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is not None and not obj.address_visible_to(request.user):
            return [f for f in fields if f not in ("street_address", "postal_code", "city")]
        return fields


@admin.register(AccessLog)
class AccessLogAdmin(admin.ModelAdmin):
    list_display = ["at", "username", "role", "child", "action", "what"]
    list_filter = ["action", "role"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
