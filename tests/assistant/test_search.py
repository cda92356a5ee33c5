"""search_web against local fakes of the providers' HTTP APIs (SearxNG, Tavily, Brave)."""

import asyncio
import json
import logging
import time

import pytest
from aiohttp import web
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from assistant.search import SearchError, build_search_backend, get_search_backend
from assistant.tools import registry
from conversations.models import Message
from tests.fakes.openai_server import reply, tool_calls

SEARX_RESULTS = {
    "query": "Django 6.1",
    "results": [
        {
            "title": "Django 6.1 release notes",
            "url": "https://docs.djangoproject.com/en/6.1/releases/6.1/",
            "content": "Welcome to <b>Django 6.1</b> &amp; more",
            "engine": "duckduckgo",
        },
        {"title": "Not a link", "url": "javascript:alert(1)", "content": "dropped"},
        {"title": "Django news", "url": "https://www.djangoproject.com/weblog/", "content": "x"},
        {"title": "Third", "url": "https://example.com/3", "content": "y"},
    ],
}
TAVILY_KEY = "tvly-SECRET-never-logged-123"
BRAVE_KEY = "BSA-SECRET-never-logged-456"


def searxng(settings, server, timeout: float = 2.0) -> None:
    settings.SEARCH_PROVIDER = "searxng"
    settings.SEARXNG_URL = server.url
    settings.SEARCH_BACKEND = {
        "BACKEND": "assistant.search.searxng.SearxngSearch",
        "OPTIONS": {"url": server.url, "timeout": timeout},
    }


def json_route(body, status: int = 200, delay: float = 0.0):
    async def handler(request: web.Request) -> web.Response:
        if delay:
            await asyncio.sleep(delay)
        return web.json_response(body, status=status)

    return handler


def chat(client, message: str = "Django 6.1 について調べて") -> dict:
    response = client.post("/api/chat/", {"message": message}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def search_result(server) -> dict:
    """The search_web result the model received in the second chat request."""
    tool_messages = [m for m in server.chat_requests()[1].json["messages"] if m["role"] == "tool"]
    assert len(tool_messages) == 1
    return json.loads(tool_messages[0]["content"])


@pytest.mark.django_db(transaction=True)
def test_searxng_results_reach_the_model(api_client, llm_upstream, settings):
    searxng(settings, llm_upstream)
    llm_upstream.add_route("GET", "/search", json_route(SEARX_RESULTS))
    llm_upstream.enqueue(
        tool_calls([("search_web", {"query": "Django 6.1", "max_results": 2})]),
        reply("Django 6.1 のリリースノートによると…"),
    )

    body = chat(api_client)

    assert "tools" in llm_upstream.chat_requests()[0].json
    offered = {t["function"]["name"] for t in llm_upstream.chat_requests()[0].json["tools"]}
    assert "search_web" in offered
    (searched,) = [r for r in llm_upstream.requests if r.path == "/search"]
    assert searched.query == {"q": "Django 6.1", "format": "json"}
    assert search_result(llm_upstream) == {
        "query": "Django 6.1",
        "results": [
            {
                "title": "Django 6.1 release notes",
                "url": "https://docs.djangoproject.com/en/6.1/releases/6.1/",
                "snippet": "Welcome to Django 6.1 & more",
            },
            {
                "title": "Django news",
                "url": "https://www.djangoproject.com/weblog/",
                "snippet": "x",
            },
        ],
    }
    assert Message.objects.get(pk=body["message_id"]).status == Message.Status.COMPLETE


@pytest.mark.django_db(transaction=True)
def test_search_timeout_is_a_tool_error(api_client, llm_upstream, settings):
    searxng(settings, llm_upstream, timeout=0.3)
    llm_upstream.add_route("GET", "/search", json_route(SEARX_RESULTS, delay=5))
    llm_upstream.enqueue(
        tool_calls([("search_web", {"query": "slow"})]), reply("検索できませんでした。")
    )

    body = chat(api_client)

    assert search_result(llm_upstream) == {
        "error": "The web search (searxng) did not answer within 0.3 s."
    }
    assert body["message"] == "検索できませんでした。"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("status", "expected"),
    [(500, "answered HTTP 500"), (403, "format=json"), (429, "rate-limiting")],
)
def test_search_http_errors_are_tool_errors(api_client, llm_upstream, settings, status, expected):
    searxng(settings, llm_upstream)
    llm_upstream.add_route("GET", "/search", json_route({"error": "x"}, status=status))
    llm_upstream.enqueue(tool_calls([("search_web", {"query": "q"})]), reply("ok"))

    chat(api_client)

    assert expected in search_result(llm_upstream)["error"]


@pytest.mark.django_db(transaction=True)
def test_an_answer_past_the_size_cap_is_abandoned_as_a_tool_error(
    api_client, llm_upstream, settings
):
    settings.SEARCH_MAX_RESPONSE_BYTES = 64 * 1024
    searxng(settings, llm_upstream, timeout=10)
    huge = json.dumps({"results": [{"title": "x" * 1000, "url": "https://a.example/"}] * 2000})
    # No Content-Length; 16 KiB every 50 ms: the whole 2 MB answer would take over 6 s.
    llm_upstream.serve_bytes(
        "/search",
        huge.encode(),
        "application/json",
        chunked=True,
        chunk_size=16 * 1024,
        chunk_interval=0.05,
    )
    llm_upstream.enqueue(tool_calls([("search_web", {"query": "q"})]), reply("大きすぎました。"))

    started = time.monotonic()
    body = chat(api_client)

    assert time.monotonic() - started < 4
    assert search_result(llm_upstream) == {
        "error": "The web search (searxng) answered with more than 65536 bytes "
        "(SEARCH_MAX_RESPONSE_BYTES); the answer was abandoned."
    }
    assert body["message"] == "大きすぎました。"


async def test_a_declared_length_past_the_cap_is_refused_before_reading(fake_openai, settings):
    settings.SEARCH_MAX_RESPONSE_BYTES = 1024
    fake_openai.serve_bytes(
        "/search", b'{"results": []}', "application/json", declared_length=10_000_000
    )
    backend = build_search_backend(
        {
            "BACKEND": "assistant.search.searxng.SearxngSearch",
            "OPTIONS": {"url": fake_openai.url, "timeout": 5},
        }
    )
    with pytest.raises(SearchError, match="more than 1024 bytes"):
        await backend.search(query="q", max_results=1)


def test_search_size_cap_is_checked(settings):
    settings.SEARCH_MAX_RESPONSE_BYTES = "big"
    configure(settings, "searxng", "assistant.search.searxng.SearxngSearch", url="http://s")
    settings.SEARXNG_URL = "http://s"
    assert "SEARCH_MAX_RESPONSE_BYTES" in kaiwa_errors()["kaiwa.E041"]


@pytest.mark.django_db(transaction=True)
def test_search_is_not_offered_when_unconfigured(api_client, llm_upstream, settings):
    settings.SEARCH_PROVIDER = ""
    settings.SEARCH_BACKEND = None
    # A model that calls it anyway gets an unknown-tool error, not a search.
    llm_upstream.enqueue(tool_calls([("search_web", {"query": "q"})]), reply("ok"))

    chat(api_client)

    offered = {t["function"]["name"] for t in llm_upstream.chat_requests()[0].json["tools"]}
    assert "search_web" not in offered
    assert search_result(llm_upstream) == {"error": "Unknown tool: search_web"}
    assert "search_web" not in {s["function"]["name"] for s in registry.available_specs()}


@pytest.mark.django_db(transaction=True)
def test_demo_searches_when_a_provider_is_configured(api_client, fake_openai, settings):
    searxng(settings, fake_openai)
    fake_openai.add_route("GET", "/search", json_route(SEARX_RESULTS))

    body = chat(api_client, "search Django 6.1")

    (searched,) = [r for r in fake_openai.requests if r.path == "/search"]
    assert searched.query["q"] == "Django 6.1"
    tool_row = Message.objects.get(conversation_id=body["conversation_id"], role="tool")
    assert json.loads(tool_row.content)["results"][0]["title"] == "Django 6.1 release notes"


# -- hosted providers, called directly ----------------------------------------------------


async def test_tavily(fake_openai, caplog):
    fake_openai.add_route(
        "POST",
        "/search",
        json_route(
            {
                "query": "q",
                "results": [
                    {"title": "T1", "url": "https://a.example/1", "content": "c1", "score": 0.9},
                    {"title": "T2", "url": "https://a.example/2", "content": "c2", "score": 0.5},
                ],
            }
        ),
    )
    backend = build_search_backend(
        {
            "BACKEND": "assistant.search.tavily.TavilySearch",
            "OPTIONS": {"api_key": TAVILY_KEY, "base_url": fake_openai.url, "timeout": 2},
        }
    )

    with caplog.at_level(logging.DEBUG):
        results = await backend.search(query="東京の天気", max_results=1)

    assert [r.as_dict() for r in results] == [
        {"title": "T1", "url": "https://a.example/1", "snippet": "c1"}
    ]
    (sent,) = [r for r in fake_openai.requests if r.path == "/search"]
    assert sent.headers["authorization"] == f"Bearer {TAVILY_KEY}"
    assert sent.json["query"] == "東京の天気" and sent.json["max_results"] == 1
    assert TAVILY_KEY not in caplog.text and TAVILY_KEY not in repr(backend)


async def test_tavily_rejected_key_names_the_variable_not_the_key(fake_openai, caplog):
    fake_openai.add_route("POST", "/search", json_route({"detail": TAVILY_KEY}, status=401))
    backend = build_search_backend(
        {
            "BACKEND": "assistant.search.tavily.TavilySearch",
            "OPTIONS": {"api_key": TAVILY_KEY, "base_url": fake_openai.url},
        }
    )
    with caplog.at_level(logging.DEBUG), pytest.raises(SearchError) as raised:
        await backend.search(query="q", max_results=3)
    assert "TAVILY_API_KEY" in raised.value.detail and TAVILY_KEY not in raised.value.detail
    assert TAVILY_KEY not in caplog.text


async def test_brave(fake_openai):
    fake_openai.add_route(
        "GET",
        "/res/v1/web/search",
        json_route(
            {
                "type": "search",
                "web": {
                    "results": [
                        {
                            "title": "Kyoto <strong>guide</strong>",
                            "url": "https://b.example/kyoto",
                            "description": "Temples &amp; <strong>gardens</strong>",
                        }
                    ]
                },
            }
        ),
    )
    backend = build_search_backend(
        {
            "BACKEND": "assistant.search.brave.BraveSearch",
            "OPTIONS": {"api_key": BRAVE_KEY, "base_url": fake_openai.url, "timeout": 2},
        }
    )

    results = await backend.search(query="kyoto", max_results=5)

    assert [r.as_dict() for r in results] == [
        {"title": "Kyoto guide", "url": "https://b.example/kyoto", "snippet": "Temples & gardens"}
    ]
    (sent,) = [r for r in fake_openai.requests if r.path == "/res/v1/web/search"]
    assert sent.headers["x-subscription-token"] == BRAVE_KEY
    assert sent.query == {"q": "kyoto", "count": "5"}


async def test_unreachable_provider(unused_tcp_port):
    backend = build_search_backend(
        {
            "BACKEND": "assistant.search.searxng.SearxngSearch",
            "OPTIONS": {"url": f"http://127.0.0.1:{unused_tcp_port}", "timeout": 2},
        }
    )
    with pytest.raises(SearchError, match="could not be reached"):
        await backend.search(query="q", max_results=1)


# -- configuration checks -----------------------------------------------------------------


def kaiwa_errors() -> dict[str, str]:
    return {m.id: m.msg for m in checks.run_checks(tags=["kaiwa"]) if m.is_serious()}


def configure(settings, provider: str, backend: str | None = None, **options) -> None:
    settings.SEARCH_PROVIDER = provider
    settings.SEARCH_BACKEND = {"BACKEND": backend, "OPTIONS": options} if backend else None


def test_unset_search_has_no_issues(settings):
    configure(settings, "")
    assert not {k for k in kaiwa_errors() if k >= "kaiwa.E020"}


def test_unknown_search_provider(settings):
    configure(settings, "google")
    assert "SEARCH_PROVIDER" in kaiwa_errors()["kaiwa.E020"]


def test_searxng_needs_a_url(settings):
    settings.SEARXNG_URL = ""
    configure(settings, "searxng", "assistant.search.searxng.SearxngSearch", url="")
    assert "SEARXNG_URL" in kaiwa_errors()["kaiwa.E021"]
    settings.SEARXNG_URL = "localhost:8888"
    assert "SEARXNG_URL" in kaiwa_errors()["kaiwa.E021"]


@pytest.mark.parametrize(
    ("provider", "backend", "variable", "check_id"),
    [
        ("tavily", "assistant.search.tavily.TavilySearch", "TAVILY_API_KEY", "kaiwa.E022"),
        ("brave", "assistant.search.brave.BraveSearch", "BRAVE_API_KEY", "kaiwa.E023"),
    ],
)
def test_hosted_search_needs_a_key(settings, provider, backend, variable, check_id):
    configure(settings, provider, backend, api_key="")
    assert variable in kaiwa_errors()[check_id]
    configure(settings, provider, backend, api_key="k-SECRET")
    errors = kaiwa_errors()
    assert check_id not in errors and "k-SECRET" not in str(errors)


def test_image_settings_are_checked(settings):
    settings.IMAGE_MAX_BYTES = 0
    settings.IMAGE_SIZES = ["big"]
    settings.IMAGE_DOWNLOAD_TIMEOUT = "soon"
    errors = kaiwa_errors()
    assert "IMAGE_MAX_BYTES" in errors["kaiwa.E028"]
    assert "IMAGE_SIZES" in errors["kaiwa.E029"]
    assert "IMAGE_DOWNLOAD_TIMEOUT" in errors["kaiwa.E027"]


def test_the_backend_is_built_once_and_again_when_the_setting_changes(settings):
    configure(settings, "searxng", "assistant.search.searxng.SearxngSearch", url="http://s1")
    first = get_search_backend()
    assert get_search_backend() is first and first.url == "http://s1"

    configure(settings, "searxng", "assistant.search.searxng.SearxngSearch", url="http://s2")
    assert get_search_backend().url == "http://s2"

    configure(settings, "")
    assert get_search_backend() is None


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        ({"BACKEND": "assistant.search.nope.Search"}, "could not be imported"),
        ({"BACKEND": "assistant.backends.demo.DemoBackend"}, "not a subclass"),
        ({"BACKEND": "", "OPTIONS": {}}, "SEARCH_PROVIDER"),
        (
            {"BACKEND": "assistant.search.searxng.SearxngSearch", "OPTIONS": {"url": "s:8888"}},
            "SEARXNG_URL",
        ),
        (
            {"BACKEND": "assistant.search.brave.BraveSearch", "OPTIONS": {"timeout": "soon"}},
            "SEARCH_TIMEOUT",
        ),
    ],
)
def test_a_bad_search_backend_setting_is_improperly_configured(config, complaint):
    with pytest.raises(ImproperlyConfigured, match=complaint):
        build_search_backend(config)
