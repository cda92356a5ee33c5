"""The models people may choose for a conversation (the LLM_MODELS setting), in its order.

LLM_MODELS holds comma-separated `id=Label` entries (a bare `id` is its own label); for
Azure the ids are deployment names. Unset, the one model the provider is configured with
is allowed: the Azure deployment, OPENAI_MODEL, or "demo". The first entry is the default:
a conversation without a model, or with one that is no longer allowed, talks to it.

Here and not in assistant/: the conversation services refuse a model outside the list,
and conversations/ never imports assistant/.
"""

from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from conversations.errors import InvalidInput

# Conversation.model and Message.model hold at most this many characters.
MAX_MODEL_ID_CHARS = 100
# The demo backend's model name (assistant.backends.demo.DEMO_MODEL); it takes no option.
DEMO_MODEL = "demo"


@dataclass(frozen=True, slots=True)
class AllowedModel:
    id: str
    label: str


def parse_llm_models(text: str) -> tuple[AllowedModel, ...]:
    """The entries of an LLM_MODELS value; ValueError saying which entry is malformed."""
    models: list[AllowedModel] = []
    seen: set[str] = set()
    for position, entry in enumerate(text.split(","), start=1):
        model_id, has_label, label = (part.strip() for part in entry.partition("="))
        where = f"entry {position} ({entry.strip()!r})"
        if not model_id:
            raise ValueError(f"{where} has no model id")
        if any(char.isspace() for char in model_id):
            raise ValueError(f"{where}: a model id has no spaces")
        if len(model_id) > MAX_MODEL_ID_CHARS:
            raise ValueError(f"{where}: a model id has at most {MAX_MODEL_ID_CHARS} characters")
        if has_label and not label:
            raise ValueError(f"{where} has '=' but no label")
        if model_id in seen:
            raise ValueError(f"{where} repeats the model id {model_id!r}")
        seen.add(model_id)
        models.append(AllowedModel(id=model_id, label=label or model_id))
    return tuple(models)


@lru_cache(maxsize=8)
def _parsed(text: str) -> tuple[AllowedModel, ...]:
    return parse_llm_models(text)


def provider_model() -> str:
    """The one model the active provider is configured with (LLM_BACKEND's OPTIONS)."""
    config = getattr(settings, "LLM_BACKEND", None)
    options = config.get("OPTIONS") if isinstance(config, dict) else None
    options = options if isinstance(options, dict) else {}
    return str(options.get("deployment") or options.get("model") or DEMO_MODEL)


def allowed_models() -> tuple[AllowedModel, ...]:
    """The models people may choose, the default first.

    A malformed LLM_MODELS is reported by `manage.py check` (kaiwa.E040) and the server
    refuses to start with it; reaching here with one is a configuration error.
    """
    raw = getattr(settings, "LLM_MODELS", "")
    if not raw.strip():
        model = provider_model()
        return (AllowedModel(id=model, label=model),)
    try:
        return _parsed(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"LLM_MODELS is malformed: {exc}.") from None


def default_model() -> str:
    """The id of the first allowed model."""
    return allowed_models()[0].id


def is_allowed(model: str) -> bool:
    """Whether `model` is one of the allowed ids (an empty model means the default: allowed)."""
    return not model or any(allowed.id == model for allowed in allowed_models())


def require_allowed(model: str) -> str:
    """`model` if people may choose it ("" = the default); InvalidInput otherwise."""
    if not is_allowed(model):
        raise InvalidInput(not_allowed_message())
    return model


def not_allowed_message() -> str:
    # The refused id is not repeated: it is the caller's own text.
    return _("This model is not offered here; GET /api/models/ lists the models you can use.")


def model_for_turn(model: str) -> str:
    """The model a turn talks to: the conversation's (or call's) if still allowed, else the
    default. A model removed from LLM_MODELS does not strand the conversations that use it."""
    return model if model and is_allowed(model) else default_model()
