"""Every REST operation, enumerated from the OpenAPI schema and checked against the URLconf.

The security tests are parametrized over `api_operations()`, so a new endpoint is covered
the day it is routed. `unlisted_api_routes()` finds routes under /api/ that the schema does
not describe (a view excluded from the schema would otherwise escape the suite).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

UNSAFE = frozenset({"post", "put", "patch", "delete"})
# Public on purpose: the schema and its docs page describe the API, they hold no data.
PUBLIC_ROUTES = frozenset({"/api/schema/", "/api/docs/"})


@dataclass(frozen=True)
class Operation:
    method: str  # lower case, as in the schema
    path: str  # with {id} placeholders, as in the schema

    @property
    def unsafe(self) -> bool:
        return self.method in UNSAFE

    @property
    def has_object(self) -> bool:
        return "{" in self.path

    @property
    def resource(self) -> str:
        """The first segment after /api/ (conversations, notes, images, tokens, ...)."""
        return self.path.removeprefix("/api/").split("/", 1)[0]

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


@cache
def api_schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


@cache
def api_operations() -> tuple[Operation, ...]:
    operations = []
    for path, item in api_schema()["paths"].items():
        for method in ("get", "post", "put", "patch", "delete"):
            if method in item:
                operations.append(Operation(method, path))
    return tuple(operations)


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            yield route


def _normalise(route: str) -> str:
    route = route.replace("^", "").replace("$", "").replace("\\Z", "")
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)  # regex groups
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)  # path converters
    return "/" + route.replace("{pk}", "{id}")


@cache
def api_routes() -> frozenset[str]:
    """Every route under /api/ in the URLconf, in the schema's notation."""
    routes = {_normalise(route) for route in _walk(get_resolver().url_patterns)}
    return frozenset(r for r in routes if r.startswith("/api/") and "(?P<format>" not in r)


def unlisted_api_routes() -> set[str]:
    return set(api_routes()) - set(api_schema()["paths"]) - PUBLIC_ROUTES


def response_text(response) -> str:
    """The body of any test-client response, streamed (sync or async) or not."""
    if not getattr(response, "streaming", False):
        return response.content.decode(errors="replace")
    content = response.streaming_content
    if hasattr(content, "__aiter__"):
        from asgiref.sync import async_to_sync

        async def drain() -> bytes:
            return b"".join([chunk async for chunk in content])

        return async_to_sync(drain)().decode(errors="replace")
    return b"".join(content).decode(errors="replace")
