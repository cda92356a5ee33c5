from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        # Registered here: the checks, the Bearer scheme, the lock-out log receiver, the
        # receivers that end open sockets and streams with their credentials (revocation)
        # and the stored sessions of a deactivated user (deactivation).
        from accounts import checks, deactivation, lockout, openapi, revocation  # noqa: F401
