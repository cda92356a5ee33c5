from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        # Registered here: the checks, the Bearer scheme, the lock-out log receiver and the
        # receivers that end open sockets and streams with their credentials (revocation).
        from accounts import checks, lockout, openapi, revocation  # noqa: F401
