"""What every search backend offers: `search()` returning titles, URLs and snippets.

Every failure (timeout, connection, HTTP status, unreadable answer) is a `SearchError`
whose sentence the model reads as the tool's error; it never contains a key. Like the LLM
backends, each class declares its `Options` and its `check()` (assistant/backend_config.py).
"""

import asyncio
import html
import json as json_module
import logging
import re
import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Self
from urllib.parse import urlsplit

import httpx2
from django.conf import settings
from django.core.checks import CheckMessage, Error

from assistant.backend_config import Options, as_number, is_http_url, option

logger = logging.getLogger("kaiwa.search")

TITLE_CHARS = 300
SNIPPET_CHARS = 500
_TAG_RE = re.compile(r"<[^>]*>")


@dataclass(frozen=True, slots=True)
class SearchResult:
    title: str
    url: str
    snippet: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class _TooLarge(Exception):
    """The answer passed SEARCH_MAX_RESPONSE_BYTES."""


class SearchError(Exception):
    """A search that failed; `detail` is a sentence for the model (and the logs)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(detail)


def _plain(text: Any, limit: int) -> str:
    """Provider text as one plain line: tags (Brave's <strong>) and entities removed."""
    if not isinstance(text, str):
        return ""
    flat = " ".join(html.unescape(_TAG_RE.sub("", text)).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def make_result(*, title: Any, url: Any, snippet: Any) -> SearchResult | None:
    """A cleaned result, or None when its URL is not http(s) (nothing else is worth a link)."""
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
        return None
    return SearchResult(
        title=_plain(title, TITLE_CHARS) or url,
        url=url,
        snippet=_plain(snippet, SNIPPET_CHARS),
    )


def collect(items: Any, max_results: int, **fields: str) -> list[SearchResult]:
    """Results from a provider's list of dicts; `fields` maps title/url/snippet to its keys."""
    results: list[SearchResult] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        result = make_result(**{ours: item.get(theirs) for ours, theirs in fields.items()})
        if result is not None:
            results.append(result)
        if len(results) >= max_results:
            break
    return results


@dataclass(frozen=True, kw_only=True)
class SearchOptions(Options):
    timeout: float = option("SEARCH_TIMEOUT", 10.0)


class SearchBackend:
    """Base class: subclasses implement `search()` with `_request()`."""

    provider: ClassVar[str] = "search"
    Options: ClassVar[type[SearchOptions]] = SearchOptions
    # The variable that holds the key, named in errors (never the key itself).
    API_KEY_SETTING: ClassVar[str | None] = None

    def __init__(self, options: SearchOptions) -> None:
        self.timeout = options.timeout

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Self:
        """The backend for settings.SEARCH_BACKEND's OPTIONS; ImproperlyConfigured names the
        environment variable at fault."""
        return cls(cls.Options.from_options(options))

    @classmethod
    def check(cls, options: dict[str, Any] | None) -> list[CheckMessage]:
        """`manage.py check` messages when this is the configured backend (`options` are
        SEARCH_BACKEND's OPTIONS; None when another or none is): the timeout and the
        response cap, shared by every provider; subclasses add their URL or key."""
        if options is None:
            return []
        errors: list[CheckMessage] = []
        timeout = as_number(getattr(settings, "SEARCH_TIMEOUT", 10))
        if timeout is None or timeout <= 0:
            errors.append(
                Error(
                    "SEARCH_TIMEOUT must be a number of seconds greater than 0, not "
                    f"{getattr(settings, 'SEARCH_TIMEOUT', None)!r}.",
                    id="kaiwa.E025",
                )
            )
        max_bytes = getattr(settings, "SEARCH_MAX_RESPONSE_BYTES", 1)
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 1:
            errors.append(
                Error(
                    "SEARCH_MAX_RESPONSE_BYTES must be a positive integer (bytes), not "
                    f"{max_bytes!r}.",
                    id="kaiwa.E041",
                )
            )
        return errors

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"  # never the options: they may hold a key

    async def search(self, *, query: str, max_results: int) -> list[SearchResult]:
        """Up to `max_results` results for `query`; SearchError on any failure."""
        raise NotImplementedError

    async def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One HTTP call within `timeout` seconds overall; its JSON body, read up to
        settings.SEARCH_MAX_RESPONSE_BYTES (decoded) and abandoned past them."""
        started = time.monotonic()
        outcome = "error"
        cap = int(settings.SEARCH_MAX_RESPONSE_BYTES)
        try:
            try:
                async with asyncio.timeout(self.timeout):
                    async with httpx2.AsyncClient(timeout=self.timeout) as client:
                        request = client.build_request(
                            method, url, params=params, json=json, headers=headers
                        )
                        response = await client.send(request, stream=True)
                        try:
                            if response.status_code != 200:
                                outcome = f"http_{response.status_code}"
                                raise SearchError(self._status_detail(response.status_code))
                            content = await self._read_capped(response, cap)
                        finally:
                            await response.aclose()
            except _TooLarge:
                outcome = "too_large"
                raise SearchError(
                    f"The web search ({self.provider}) answered with more than {cap} bytes "
                    "(SEARCH_MAX_RESPONSE_BYTES); the answer was abandoned."
                ) from None
            except (TimeoutError, httpx2.TimeoutException):
                outcome = "timeout"
                raise SearchError(
                    f"The web search ({self.provider}) did not answer within {self.timeout:g} s."
                ) from None
            except httpx2.HTTPError:
                outcome = "unavailable"
                raise SearchError(
                    f"The web search ({self.provider}) could not be reached."
                ) from None
            try:
                body = json_module.loads(content)
            except ValueError:
                raise SearchError(
                    f"The web search ({self.provider}) did not answer with JSON."
                ) from None
            outcome = "ok"
            return body
        finally:
            # Never the URL's query or headers: they carry the user's words and the key.
            logger.info(
                "search_call",
                extra={
                    "provider": self.provider,
                    "latency_ms": round((time.monotonic() - started) * 1000),
                    "outcome": outcome,
                },
            )

    @staticmethod
    async def _read_capped(response: httpx2.Response, cap: int) -> bytes:
        """The body, or _TooLarge as soon as it declares or passes `cap` bytes."""
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap:
            raise _TooLarge
        chunks: list[bytes] = []
        received = 0
        # Decoded bytes: a small compressed answer cannot unpack past the cap either.
        async for chunk in response.aiter_bytes():
            received += len(chunk)
            if received > cap:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    def _status_detail(self, status: int) -> str:
        detail = f"The web search ({self.provider}) answered HTTP {status}."
        if status in (401, 403) and self.API_KEY_SETTING:
            detail += f" It rejected the key; check {self.API_KEY_SETTING}."
        elif status == 429:
            detail += " It is rate-limiting requests; try again later."
        return detail


class HostedSearch(SearchBackend):
    """A hosted search API: a key (`API_KEY_SETTING`) and a base URL (`BASE_URL_SETTING`).
    Subclasses declare Options with `api_key` and `base_url`."""

    BASE_URL_SETTING: ClassVar[str]
    KEY_CHECK_ID: ClassVar[str]  # the check id of a missing key

    def __init__(self, options: Any) -> None:
        super().__init__(options)
        self._api_key = options.api_key
        self.base_url = options.base_url.rstrip("/")

    @classmethod
    def check(cls, options: dict[str, Any] | None) -> list[CheckMessage]:
        """The configured backend needs its key, and a base URL that is http(s)."""
        if options is None:
            return []
        errors: list[CheckMessage] = []
        if not options.get("api_key"):
            errors.append(
                Error(
                    f"SEARCH_PROVIDER={cls.provider} but {cls.API_KEY_SETTING} is not set.",
                    id=cls.KEY_CHECK_ID,
                )
            )
        name = cls.BASE_URL_SETTING
        value = getattr(settings, name, "")
        if not is_http_url(value):
            errors.append(Error(f"{name} is not a valid http(s) URL: {value!r}.", id="kaiwa.E024"))
        return errors + super().check(options)
