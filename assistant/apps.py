from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = _("Assistant")

    def ready(self) -> None:
        # Registers the "kaiwa" system checks of the LLM configuration.
        from assistant import checks  # noqa: F401
