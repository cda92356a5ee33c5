from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

from accounts.models import ApiToken, UserQuota


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are listed and revocable; the digest is never shown."""

    list_display = ["token_key", "name", "user", "created", "last_used_at", "expiry"]
    list_select_related = ["user"]
    search_fields = ["name", "user__username", "token_key"]
    fields = ["token_key", "name", "user", "created", "last_used_at", "expiry"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False


class UserQuotaInline(admin.StackedInline):
    model = UserQuota
    can_delete = True
    extra = 0
    max_num = 1


admin.site.unregister(User)


@admin.register(User)
class KaiwaUserAdmin(UserAdmin):
    """Django's user admin, plus the per-user daily token quota."""

    inlines = [*UserAdmin.inlines, UserQuotaInline]
