from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        # Registered here: the checks, the Bearer scheme, and the lock-out log receiver.
        from accounts import checks, lockout, openapi  # noqa: F401
