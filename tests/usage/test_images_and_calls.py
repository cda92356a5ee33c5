"""Images, analysis, the assistant endpoint and web search in the ledger, and the daily
image quota through POST /api/images/ and through the generate_image tool."""

import json

import pytest
from aiohttp import web
from django.utils import timezone

from assistant.models import GeneratedImage
from conversations.models import Message
from tests.fakes.openai_server import image_b64, reply, tool_calls
from usage.models import DailyUsage, UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)

ANALYSIS = {"sentiment": "positive", "intent": "感謝", "confidence": 0.9, "keywords": ["感謝"]}


def ledger(user) -> dict[str, tuple[str, int, int, int]]:
    """kind -> (model, calls, prompt tokens, completion tokens)."""
    return {
        r.kind: (r.model, r.calls, r.prompt_tokens, r.completion_tokens)
        for r in UsageRecord.objects.filter(user=user)
    }


def images_today(user) -> int:
    row = DailyUsage.objects.filter(user=user, day=timezone.localdate()).first()
    return row.images if row else 0


def generate(client):
    return client.post("/api/images/", {"prompt": "桜", "size": "1024x1024"}, format="json")


def tool_results(request) -> list[dict]:
    return [json.loads(m["content"]) for m in request.json["messages"] if m["role"] == "tool"]


def test_the_image_quota_refuses_the_api_with_retry_after(api_client, llm_upstream, user, settings):
    settings.DAILY_IMAGE_QUOTA = 2
    assert generate(api_client).status_code == 201
    assert generate(api_client).status_code == 201

    refused = generate(api_client)

    assert refused.status_code == 429
    assert refused.json()["code"] == "throttled" and "image quota" in refused.json()["detail"]
    assert 0 < int(refused["Retry-After"]) <= 86400
    assert len(llm_upstream.image_requests()) == 2  # the provider was not asked again
    assert images_today(user) == 2
    assert ledger(user)["image"][:2] == ("dall-e-3", 2)


def test_an_image_the_provider_did_not_make_is_given_back(api_client, llm_upstream, user, settings):
    from tests.fakes.openai_server import error

    settings.DAILY_IMAGE_QUOTA = 1
    llm_upstream.enqueue_image(error(400))
    assert generate(api_client).status_code >= 400
    assert images_today(user) == 0
    assert "image" not in ledger(user)
    assert generate(api_client).status_code == 201


def test_the_image_quota_reaches_the_tool_and_the_turn_goes_on(
    api_client, llm_upstream, user, settings
):
    settings.DAILY_IMAGE_QUOTA = 1
    llm_upstream.enqueue(
        tool_calls([("generate_image", {"prompt": "富士山"})]),
        tool_calls([("generate_image", {"prompt": "もう一枚"})]),
        reply("一枚だけ描けました。"),
    )

    response = api_client.post("/api/chat/", {"message": "二枚描いて"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["message"] == "一枚だけ描けました。"
    assert GeneratedImage.objects.filter(owner=user).count() == 1
    assert len(llm_upstream.image_requests()) == 1
    second = tool_results(llm_upstream.chat_requests()[2])[-1]
    assert "image quota" in second["error"]
    assert images_today(user) == 1
    # API and tool share the day's count.
    assert generate(api_client).status_code == 429


def test_the_tool_honours_the_images_rate(api_client, llm_upstream, user, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "images": "1/min",
        },
    }
    llm_upstream.enqueue(
        tool_calls(
            [("generate_image", {"prompt": "一"}, "call_a"), ("generate_image", {"prompt": "二"})]
        ),
        reply("一枚目だけです。"),
    )

    response = api_client.post("/api/chat/", {"message": "二枚"}, format="json")

    assert response.status_code == 200, response.content
    first, second = tool_results(llm_upstream.chat_requests()[1])
    assert "image_id" in first and "Too many requests" in second["error"]
    assert len(llm_upstream.image_requests()) == 1


def test_analyze_is_charged_with_its_kind_and_model(api_client, llm_upstream, user):
    llm_upstream.enqueue(tool_calls([("analyze_text", ANALYSIS)], usage=(70, 20)))
    assert (
        api_client.post("/api/analyze/", {"text": "ありがとう"}, format="json").status_code == 200
    )
    assert ledger(user) == {"analyze": ("gpt-test", 1, 70, 20)}
    assert DailyUsage.objects.get(user=user).tokens == 90


def test_the_assistant_endpoint_is_charged_as_a_chat_turn(api_client, llm_upstream, user):
    llm_upstream.enqueue(
        tool_calls([("analyze_text", ANALYSIS)], usage=(50, 10)),
        reply("分析しました", usage=(80, 5)),
    )
    response = api_client.post("/api/assistant/", {"message": "分析して"}, format="json")
    assert response.status_code == 200, response.content
    assert ledger(user) == {"chat": ("gpt-test", 2, 130, 15)}
    row = DailyUsage.objects.get(user=user)
    assert (row.tokens, row.reserved_tokens) == (145, 0)


def test_web_searches_are_counted_per_provider(api_client, llm_upstream, user, settings):
    settings.SEARCH_BACKEND = {
        "BACKEND": "assistant.search.searxng.SearxngSearch",
        "OPTIONS": {"url": llm_upstream.url, "timeout": 2},
    }

    async def results(request: web.Request) -> web.Response:
        return web.json_response(
            {"results": [{"title": "t", "url": "https://e.jp/", "content": "c"}]}
        )

    llm_upstream.add_route("GET", "/search", results)
    llm_upstream.enqueue(
        tool_calls([("search_web", {"query": "一"}), ("search_web", {"query": "二"})]),
        reply("調べました。"),
    )

    assert api_client.post("/api/chat/", {"message": "調べて"}, format="json").status_code == 200

    assert ledger(user)["search"] == ("searxng", 2, 0, 0)
    assert Message.objects.filter(role="tool", status="complete").count() == 2


def test_images_are_charged_with_their_kind_and_model(api_client, llm_upstream, user):
    llm_upstream.enqueue_image(image_b64())
    assert generate(api_client).status_code == 201
    assert ledger(user) == {"image": ("dall-e-3", 1, 0, 0)}
    assert images_today(user) == 1
