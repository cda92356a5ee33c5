"""Brave Search (hosted): GET {BRAVE_BASE_URL}/res/v1/web/search with X-Subscription-Token.

https://api-dashboard.search.brave.com/app/documentation/web-search/get-started
"""

from dataclasses import dataclass
from typing import ClassVar

from assistant.backend_config import option
from assistant.search.base import HostedSearch, SearchOptions, SearchResult, collect

# Brave's `count` accepts at most 20.
_MAX_COUNT = 20


@dataclass(frozen=True, kw_only=True)
class BraveOptions(SearchOptions):
    URLS: ClassVar[tuple[str, ...]] = ("base_url",)

    api_key: str = option("BRAVE_API_KEY", "", secret=True)
    base_url: str = option("BRAVE_BASE_URL", "https://api.search.brave.com")


class BraveSearch(HostedSearch):
    provider = "brave"
    Options = BraveOptions
    API_KEY_SETTING = "BRAVE_API_KEY"
    BASE_URL_SETTING = "BRAVE_BASE_URL"
    KEY_CHECK_ID = "kaiwa.E023"

    async def search(self, *, query: str, max_results: int) -> list[SearchResult]:
        body = await self._request(
            "GET",
            f"{self.base_url}/res/v1/web/search",
            params={"q": query, "count": min(max_results, _MAX_COUNT)},
            headers={"Accept": "application/json", "X-Subscription-Token": self._api_key},
        )
        web = body.get("web") if isinstance(body, dict) else None
        items = web.get("results") if isinstance(web, dict) else None
        return collect(items, max_results, title="title", url="url", snippet="description")
