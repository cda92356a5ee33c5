"""Tavily (hosted): POST {TAVILY_BASE_URL}/search with `Authorization: Bearer <key>`.

https://docs.tavily.com/documentation/api-reference/endpoint/search
"""

from assistant.search.base import SearchBackend, SearchResult, collect


class TavilySearch(SearchBackend):
    provider = "tavily"
    API_KEY_SETTING = "TAVILY_API_KEY"

    def __init__(
        self, *, api_key: str, base_url: str = "https://api.tavily.com", timeout: float = 10.0
    ) -> None:
        super().__init__(timeout=timeout)
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")

    async def search(self, *, query: str, max_results: int) -> list[SearchResult]:
        body = await self._request(
            "POST",
            f"{self.base_url}/search",
            json={"query": query, "max_results": max_results, "search_depth": "basic"},
            headers={"Authorization": f"Bearer {self._api_key}"},
        )
        items = body.get("results") if isinstance(body, dict) else None
        return collect(items, max_results, title="title", url="url", snippet="content")
