"""Brave Search (hosted): GET {BRAVE_BASE_URL}/res/v1/web/search with X-Subscription-Token.

https://api-dashboard.search.brave.com/app/documentation/web-search/get-started
"""

from assistant.search.base import SearchBackend, SearchResult, collect

# Brave's `count` accepts at most 20.
_MAX_COUNT = 20


class BraveSearch(SearchBackend):
    provider = "brave"
    API_KEY_SETTING = "BRAVE_API_KEY"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = "https://api.search.brave.com",
        timeout: float = 10.0,
    ) -> None:
        super().__init__(timeout=timeout)
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")

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
