"""Web search for the search_web tool, configured like Django's EMAIL_BACKEND.

    SEARCH_BACKEND = {"BACKEND": "assistant.search.searxng.SearxngSearch", "OPTIONS": {...}}

settings.py builds it from SEARCH_PROVIDER (searxng, tavily or brave) and the provider's
URL/key variables; None means no search, and then the tool is not offered to the model.
Backends are cheap (an HTTP client per call), so one is built for each search.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from assistant.search.base import SearchBackend, SearchError, SearchResult

__all__ = [
    "SearchBackend",
    "SearchError",
    "SearchResult",
    "build_search_backend",
    "get_search_backend",
    "search_configured",
]


def search_configured() -> bool:
    """Whether a search provider is configured (the search_web tool is offered)."""
    return bool(getattr(settings, "SEARCH_BACKEND", None))


def build_search_backend(config: dict) -> SearchBackend:
    """A backend from `config` ({"BACKEND": dotted path, "OPTIONS": {...}})."""
    path = config.get("BACKEND") if isinstance(config, dict) else None
    if not path or not isinstance(path, str):
        raise ImproperlyConfigured("SEARCH_BACKEND['BACKEND'] must be a dotted path.")
    try:
        backend_class = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"SEARCH_BACKEND = {path!r} could not be imported: {exc}"
        ) from exc
    if not (isinstance(backend_class, type) and issubclass(backend_class, SearchBackend)):
        raise ImproperlyConfigured(f"SEARCH_BACKEND = {path!r} is not a SearchBackend.")
    options = config.get("OPTIONS") or {}
    try:
        return backend_class(**options)
    except TypeError as exc:
        # Names the option, never a value (OPTIONS hold the API key).
        raise ImproperlyConfigured(f"SEARCH_BACKEND['OPTIONS'] do not fit {path}: {exc}") from None


def get_search_backend() -> SearchBackend | None:
    """The configured backend, or None when web search is not configured."""
    config = getattr(settings, "SEARCH_BACKEND", None)
    return build_search_backend(config) if config else None
