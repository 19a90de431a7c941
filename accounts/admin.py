from django.contrib import admin

from accounts.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Audit records, read-only: nobody adds, changes or deletes them here (the model and, on
    PostgreSQL, the database refuse it anyway)."""

    list_display = ("time", "actor_username", "actor_role", "action", "key_label", "outcome")
    list_filter = ("outcome", "action", "actor_role")
    search_fields = ("actor_username", "key_id", "key_description", "key_last6", "request_id")
    ordering = ("-time", "-id")
    list_per_page = 50
    # A million rows: no COUNT(*) of the whole table on every filtered page.
    show_full_result_count = False
    actions = None
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    fieldsets = (
        (None, {"fields": ("time", "action", "outcome", "completed_at", "error")}),
        ("Who", {"fields": ("actor", "actor_username", "actor_role")}),
        ("Key", {"fields": ("key_id", "key_description", "key_last6")}),
        ("What changed", {"fields": ("changes", "details")}),
        ("From where", {"fields": ("ip", "user_agent", "request_id")}),
        ("Hash chain", {"fields": ("sequence", "previous_hash", "hash")}),
    )

    @admin.display(description="key")
    def key_label(self, event):
        if not event.key_id:
            return "—"
        return f"{event.key_description or event.key_id} …{event.key_last6}".strip()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
