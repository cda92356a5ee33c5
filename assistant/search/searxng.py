"""SearxNG's JSON API (self-hostable): GET {SEARXNG_URL}/search?q=…&format=json.

The instance must allow the JSON format (`search: formats: [html, json]` in its
settings.yml); otherwise it answers 403, and the error says so.
https://docs.searxng.org/dev/search_api.html
"""

from dataclasses import dataclass
from typing import Any, ClassVar

from django.conf import settings
from django.core.checks import CheckMessage, Error

from assistant.backend_config import is_http_url, option
from assistant.search.base import SearchBackend, SearchOptions, SearchResult, collect


@dataclass(frozen=True, kw_only=True)
class SearxngOptions(SearchOptions):
    URLS: ClassVar[tuple[str, ...]] = ("url",)

    url: str = option("SEARXNG_URL", "")


class SearxngSearch(SearchBackend):
    provider = "searxng"
    Options = SearxngOptions

    def __init__(self, options: SearxngOptions) -> None:
        super().__init__(options)
        self.url = options.url.rstrip("/")

    @classmethod
    def check(cls, options: dict[str, Any] | None) -> list[CheckMessage]:
        """The configured backend needs SEARXNG_URL, an http(s) URL."""
        if options is None:
            return []
        errors: list[CheckMessage] = []
        url = getattr(settings, "SEARXNG_URL", "")
        if not url:
            errors.append(
                Error(
                    "SEARCH_PROVIDER=searxng but SEARXNG_URL is not set.",
                    hint="Set SEARXNG_URL to your SearxNG instance, e.g. http://localhost:8888 "
                    "(with the json format enabled in its settings.yml).",
                    id="kaiwa.E021",
                )
            )
        elif not is_http_url(url):
            errors.append(
                Error(f"SEARXNG_URL is not a valid http(s) URL: {url!r}.", id="kaiwa.E021")
            )
        return errors + super().check(options)

    async def search(self, *, query: str, max_results: int) -> list[SearchResult]:
        body = await self._request(
            "GET",
            f"{self.url}/search",
            params={"q": query, "format": "json"},
            headers={"Accept": "application/json"},
        )
        items = body.get("results") if isinstance(body, dict) else None
        return collect(items, max_results, title="title", url="url", snippet="content")

    def _status_detail(self, status: int) -> str:
        if status == 403:
            return (
                "The web search (searxng) answered HTTP 403: the instance does not allow "
                "format=json (enable it under search.formats in its settings.yml)."
            )
        return super()._status_detail(status)
