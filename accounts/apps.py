from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        # openapi registers the Bearer scheme; revocation connects its signal receivers.
        from accounts import openapi, revocation  # noqa: F401
