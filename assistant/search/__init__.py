"""Web search for the search_web tool, configured like Django's CACHES.

    SEARCH_BACKEND = {"BACKEND": "assistant.search.searxng.SearxngSearch", "OPTIONS": {...}}

settings.py builds it from SEARCH_PROVIDER (one of PROVIDERS) and the provider's URL/key
variables; None means no search, and then the tool is not offered to the model. The
backend is built once per process (assistant/backend_config.py) and holds no connection:
each search opens its own HTTP client.
"""

from django.conf import settings

from assistant.backend_config import BackendSetting
from assistant.search.base import SearchBackend, SearchError, SearchResult

__all__ = [
    "PROVIDERS",
    "SEARCH_BACKEND",
    "SearchBackend",
    "SearchError",
    "SearchResult",
    "build_search_backend",
    "get_search_backend",
    "search_configured",
]

# SEARCH_PROVIDER's values and the backend each selects.
PROVIDERS = {
    "searxng": "assistant.search.searxng.SearxngSearch",
    "tavily": "assistant.search.tavily.TavilySearch",
    "brave": "assistant.search.brave.BraveSearch",
}

SEARCH_BACKEND = BackendSetting(
    "SEARCH_BACKEND",
    SearchBackend,
    chooser="SEARCH_PROVIDER (searxng, tavily or brave)",
    optional=True,
)


def search_configured() -> bool:
    """Whether a search provider is configured (the search_web tool is offered)."""
    return bool(getattr(settings, "SEARCH_BACKEND", None))


def build_search_backend(config: dict) -> SearchBackend | None:
    """A new backend from `config` ({"BACKEND": dotted path, "OPTIONS": {...}})."""
    return SEARCH_BACKEND.build(config)


def get_search_backend() -> SearchBackend | None:
    """The configured backend, or None when web search is not configured."""
    return SEARCH_BACKEND.get()
