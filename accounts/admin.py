from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from accounts.invites import invite_token_new
from accounts.models import ApiToken, Invite, UserQuota


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


@admin.register(Invite)
class InviteAdmin(admin.ModelAdmin):
    """Staff make single-use sign-up links here; each link is shown once, when it is made."""

    list_display = ["__str__", "status", "created_by", "created_at", "expires_at", "used_by"]
    list_select_related = ["created_by", "used_by"]
    search_fields = ["note", "created_by__username", "used_by__username"]
    fields = ["note", "expires_at", "created_by", "created_at", "used_at", "used_by"]
    readonly_fields = ["created_by", "created_at", "used_at", "used_by"]

    @admin.display(description=_("status"))
    def status(self, invite: Invite) -> str:
        if invite.used_at:
            return _("used")
        if invite.expires_at <= timezone.now():
            return _("expired")
        return _("open")

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        token, obj.token_digest = invite_token_new()
        obj.created_by = request.user
        super().save_model(request, obj, form, change)
        link = request.build_absolute_uri(f"{reverse('signup')}?{urlencode({'invite': token})}")
        messages.warning(
            request,
            _("Invitation link (shown only this once; copy it now): %(link)s") % {"link": link},
        )
