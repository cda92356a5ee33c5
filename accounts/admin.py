from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import Count, Max
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from accounts.invites import invite_token_new
from accounts.models import ApiToken, Invite, SsoIdentity, UserQuota


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


class SsoIdentityInline(admin.TabularInline):
    """How the user signs in through the provider; made by the first sign-in. Deleting a
    row unlinks the provider's account (its next sign-in is a first one again)."""

    model = SsoIdentity
    extra = 0
    fields = ["issuer", "subject", "tenant_id", "email", "created_at", "last_login_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class SsoFilter(admin.SimpleListFilter):
    title = _("single sign-on")
    parameter_name = "sso"

    def lookups(self, request, model_admin):
        return [("yes", _("Signs in with single sign-on")), ("no", _("Password only"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(sso_count__gt=0)
        if self.value() == "no":
            return queryset.filter(sso_count=0)
        return queryset


admin.site.unregister(User)


@admin.register(User)
class KaiwaUserAdmin(UserAdmin):
    """Django's user admin, plus the per-user daily token quota and single sign-on.
    Unticking "active" ends the user's sessions, sockets and streams (accounts.revocation)."""

    inlines = [*UserAdmin.inlines, UserQuotaInline, SsoIdentityInline]
    list_display = [*UserAdmin.list_display, "is_active", "uses_sso", "sso_last_login_at"]
    list_filter = [*UserAdmin.list_filter, SsoFilter]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                sso_count=Count("sso_identities"),
                sso_last=Max("sso_identities__last_login_at"),
            )
        )

    @admin.display(description=_("SSO"), boolean=True, ordering="sso_count")
    def uses_sso(self, user) -> bool:
        return user.sso_count > 0

    @admin.display(description=_("last SSO sign-in"), ordering="sso_last")
    def sso_last_login_at(self, user):
        return user.sso_last


@admin.register(SsoIdentity)
class SsoIdentityAdmin(admin.ModelAdmin):
    """Who signs in through the provider, and when they last did."""

    list_display = ["user", "email", "tenant_id", "created_at", "last_login_at"]
    list_select_related = ["user"]
    list_filter = ["tenant_id"]
    search_fields = ["user__username", "email", "subject"]
    fields = ["user", "issuer", "subject", "tenant_id", "email", "created_at", "last_login_at"]
    readonly_fields = ["created_at", "last_login_at"]
    autocomplete_fields = ["user"]


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
