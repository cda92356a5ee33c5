"""Tavily (hosted): POST {TAVILY_BASE_URL}/search with `Authorization: Bearer <key>`.

https://docs.tavily.com/documentation/api-reference/endpoint/search
"""

from dataclasses import dataclass
from typing import ClassVar

from assistant.backend_config import option
from assistant.search.base import HostedSearch, SearchOptions, SearchResult, collect


@dataclass(frozen=True, kw_only=True)
class TavilyOptions(SearchOptions):
    URLS: ClassVar[tuple[str, ...]] = ("base_url",)

    api_key: str = option("TAVILY_API_KEY", "", secret=True)
    base_url: str = option("TAVILY_BASE_URL", "https://api.tavily.com")


class TavilySearch(HostedSearch):
    provider = "tavily"
    Options = TavilyOptions
    API_KEY_SETTING = "TAVILY_API_KEY"
    BASE_URL_SETTING = "TAVILY_BASE_URL"
    KEY_CHECK_ID = "kaiwa.E022"

    async def search(self, *, query: str, max_results: int) -> list[SearchResult]:
        body = await self._request(
            "POST",
            f"{self.base_url}/search",
            json={"query": query, "max_results": max_results, "search_depth": "basic"},
            headers={"Authorization": f"Bearer {self._api_key}"},
        )
        items = body.get("results") if isinstance(body, dict) else None
        return collect(items, max_results, title="title", url="url", snippet="content")
