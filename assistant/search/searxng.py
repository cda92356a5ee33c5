"""SearxNG's JSON API (self-hostable): GET {SEARXNG_URL}/search?q=…&format=json.

The instance must allow the JSON format (`search: formats: [html, json]` in its
settings.yml); otherwise it answers 403, and the error says so.
https://docs.searxng.org/dev/search_api.html
"""

from assistant.search.base import SearchBackend, SearchResult, collect


class SearxngSearch(SearchBackend):
    provider = "searxng"

    def __init__(self, *, url: str, timeout: float = 10.0) -> None:
        super().__init__(timeout=timeout)
        self.url = url.rstrip("/")

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
