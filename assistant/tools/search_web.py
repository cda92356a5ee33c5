"""search_web: a web search through the configured provider (SEARCH_PROVIDER).

Offered to the model only when a provider is configured. Timeouts and provider errors come
back as `{"error": ...}` results the model can read.
"""

from typing import Any

from assistant.db_threads import in_db_thread
from assistant.search import SearchError, get_search_backend, search_configured
from assistant.tools.registry import Tool, ToolContext, register
from usage.models import UsageKind
from usage.services import usage_record

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {
            "type": "string",
            "minLength": 1,
            "maxLength": 500,
            "description": "検索クエリ / the search query",
        },
        "max_results": {
            "type": "integer",
            "minimum": 1,
            "maximum": 10,
            "default": 5,
            "description": "結果の最大数 / how many results",
        },
    },
    "required": ["query"],
    "additionalProperties": False,
}


async def _handle(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
    backend = get_search_backend()
    if backend is None:
        return {"error": "Web search is not configured."}
    query = arguments["query"]
    try:
        results = await backend.search(query=query, max_results=arguments.get("max_results", 5))
    except SearchError as exc:
        return {"error": exc.detail}
    # One answered search, counted as a call of the provider (the ledger's model column).
    await in_db_thread(usage_record)(
        user=context.user, kind=UsageKind.SEARCH, model=backend.provider
    )
    return {"query": query, "results": [result.as_dict() for result in results]}


TOOL = register(
    Tool(
        name="search_web",
        description=(
            "Web検索を実行する。Search the web; returns titles, URLs and snippets. Cite the "
            "URLs you use."
        ),
        parameters=PARAMETERS,
        handler=_handle,
        available=search_configured,
    )
)
