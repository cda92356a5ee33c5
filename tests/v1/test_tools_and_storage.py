"""Client tools relayed both ways, X-Kaiwa-Conversation, a dropped stream, and refusals
(quota, rate, another user's conversation) in OpenAI's shape, with the official SDK."""

import json
import time

import httpx2 as httpx
import openai
import pytest

from accounts.models import UserQuota
from conversations.models import Conversation, Message
from tests.factories import ConversationFactory, UserFactory
from tests.fakes.openai_server import reply, tool_calls
from usage.models import DailyUsage, UsageRecord

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_tool_round_trip(sdk, token, upstream, stream):
    user, _ = token
    upstream.enqueue(
        tool_calls([("get_weather", {"city": "Kyoto"}, "call_1")], usage=(20, 8)),
        reply("Sunny in Kyoto.", usage=(40, 5)),
    )
    messages = [{"role": "user", "content": [{"type": "text", "text": "Weather in Kyoto?"}]}]
    kwargs = {"tools": [WEATHER], "tool_choice": "auto", "parallel_tool_calls": False}

    first = sdk.chat.completions.create(
        model="gpt-test", messages=messages, stream=stream, **kwargs
    )
    if stream:
        chunks = list(first)
        fragments = [
            call
            for chunk in chunks
            if chunk.choices
            for call in chunk.choices[0].delta.tool_calls or ()
        ]
        assert len(fragments) > 1  # streamed in pieces, as OpenAI streams them
        arguments = "".join(f.function.arguments or "" for f in fragments)
        call_id, name = fragments[0].id, fragments[0].function.name
        assert chunks[-1].choices[0].finish_reason == "tool_calls"
    else:
        call = first.choices[0].message.tool_calls[0]
        call_id, name, arguments = call.id, call.function.name, call.function.arguments
        assert first.choices[0].finish_reason == "tool_calls"
    assert (call_id, name, json.loads(arguments)) == ("call_1", "get_weather", {"city": "Kyoto"})
    sent = upstream.last_chat_request.json
    assert (sent["tools"], sent["tool_choice"], sent["parallel_tool_calls"]) == (
        [WEATHER],
        "auto",
        False,
    )

    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": '{"sky": "sunny"}'},
    ]
    second = sdk.chat.completions.create(model="gpt-test", messages=messages, **kwargs)

    assert second.choices[0].message.content == "Sunny in Kyoto."
    assert upstream.last_chat_request.json["messages"] == messages
    # Two calls, two conversations; the second holds the round as the tree holds tool rounds.
    latest = Conversation.objects.filter(owner=user).order_by("-created_at").first()
    stored = list(latest.messages.order_by("created_at", "id"))
    assert [(m.role, m.content, m.tool_call_id) for m in stored] == [
        ("user", "Weather in Kyoto?", ""),
        ("assistant", "", ""),
        ("tool", '{"sky": "sunny"}', "call_1"),
        ("assistant", "Sunny in Kyoto.", ""),
    ]
    answer = stored[-1]
    assert stored[1].tool_calls[0]["function"]["name"] == "get_weather"
    assert stored[1].turn_reply_id == stored[2].turn_reply_id == answer.pk
    assert answer.parent_id == stored[0].pk
    first_reply = Message.objects.get(
        conversation__owner=user, tool_calls__isnull=False, turn_reply__isnull=True
    )
    assert first_reply.finish_reason == "tool_calls"
    assert first_reply.tool_calls[0]["id"] == "call_1"


def test_x_kaiwa_conversation_appends_the_new_messages(sdk, token, upstream):
    user, _ = token
    upstream.enqueue(reply("One."), reply("Two."))
    messages = [{"role": "user", "content": "Count"}]
    first = sdk.chat.completions.with_raw_response.create(model="gpt-test", messages=messages)
    conversation_id = first.headers["x-kaiwa-conversation"]
    messages += [
        {"role": "assistant", "content": first.parse().choices[0].message.content},
        {"role": "user", "content": "Again"},
    ]

    sdk.chat.completions.create(
        model="gpt-test",
        messages=messages,
        extra_headers={"X-Kaiwa-Conversation": conversation_id},
    )

    conversation = Conversation.objects.get(owner=user)
    assert str(conversation.pk) == conversation_id
    stored = list(conversation.messages.order_by("created_at", "id"))
    assert [(m.role, m.content) for m in stored] == [
        ("user", "Count"),
        ("assistant", "One."),
        ("user", "Again"),
        ("assistant", "Two."),
    ]
    assert [m.parent_id for m in stored[1:]] == [m.pk for m in stored[:-1]]
    assert conversation.active_leaf_id == stored[-1].pk


def test_x_kaiwa_conversation_of_another_user_is_404(sdk, upstream):
    other = ConversationFactory(owner=UserFactory())
    with pytest.raises(openai.NotFoundError) as caught:
        sdk.chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers={"X-Kaiwa-Conversation": str(other.pk)},
        )
    assert caught.value.body["code"] == "not_found"
    assert set(caught.value.body) == {"message", "type", "code", "param"}
    assert other.messages.count() == 0
    assert upstream.chat_requests() == []


def test_a_dropped_stream_is_cancelled_and_closes_upstream(live, token, upstream):
    user, key = token
    upstream.enqueue(reply("x" * 400, chunks=["x"] * 400, interval=0.02))
    body = {"model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "go"}]}

    with httpx.Client(timeout=10) as client:
        with client.stream(
            "POST",
            f"{live.url}/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
        ) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            received = [line for _, line in zip(range(6), lines, strict=False) if line]
    assert received[0].startswith("data: {")

    upstream.wait_for_abandoned(1)
    deadline = time.monotonic() + 5
    while True:
        answer = Message.objects.get(conversation__owner=user, role="assistant")
        if answer.status != "pending" and answer.status != "streaming":
            break
        assert time.monotonic() < deadline, answer.status
        time.sleep(0.05)
    assert answer.status == "cancelled"
    assert 0 < len(answer.content) < 400
    assert set(answer.content) == {"x"}
    assert UsageRecord.objects.get(user=user).calls == 1
    assert Conversation.objects.get(owner=user).active_turn_id is None


def test_the_quota_refuses_with_rate_limit_error(sdk, token, upstream):
    user, _ = token
    UserQuota.objects.create(user=user, daily_token_limit=10)
    DailyUsage.objects.create(
        user=user, day=__import__("usage.services").services.usage_day(), tokens=10
    )
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["code"] == "throttled"
    assert int(caught.value.response.headers["retry-after"]) > 0
    assert upstream.chat_requests() == []
    assert not Message.objects.filter(conversation__owner=user).exists()


def test_the_send_rate_applies(live, token, upstream, settings):
    _, key = token
    url = f"{live.url}/v1/chat/completions"
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]}
    statuses = []
    with httpx.Client(timeout=10) as client:
        for _ in range(32):  # THROTTLE_CHAT defaults to 30/min
            response = client.post(url, json=body, headers={"Authorization": f"Bearer {key}"})
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.json()["error"]["type"] == "rate_limit_error"
                assert response.headers["retry-after"]
                break
    assert statuses[-1] == 429 and statuses[:-1] == [200] * (len(statuses) - 1)


def test_an_upstream_failure_is_502_without_the_providers_key(sdk, upstream):
    from tests.fakes.openai_server import invalid_api_key_error

    upstream.enqueue(invalid_api_key_error())
    with pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    assert "sk-" not in caught.value.response.text
    assert Message.objects.get(role="assistant").status == "failed"


def test_conversations_list_filters_by_source(live, token, sdk, upstream):
    from tests.factories import bearer_client

    user, _ = token
    ConversationFactory(owner=user, title="from the web")
    sdk.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "api"}])
    client = bearer_client(user)
    listed = client.get("/api/conversations/?source=v1").json()["results"]
    assert [(c["title"], c["source"]) for c in listed] == [("api", "v1")]
    web = client.get("/api/conversations/?source=web").json()["results"]
    assert [c["title"] for c in web] == ["from the web"]


def test_a_slow_call_is_not_taken_for_a_dead_one(sdk, live, token, upstream):
    """A call that waits on the provider for longer than STREAM_STALE_AFTER_SECONDS (3 s on
    the live server) is alive: a reader's recovery leaves it running."""
    import threading

    user, key = token
    upstream.enqueue(reply("slow but fine", delay=4.0))
    done = {}
    caller = threading.Thread(
        target=lambda: done.setdefault(
            "completion",
            sdk.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "x"}]
            ),
        )
    )
    caller.start()
    upstream.wait_for_requests(1)
    conversation = Conversation.objects.get(owner=user)
    time.sleep(3.5)  # past the stale threshold; the call is still waiting on the provider
    with httpx.Client(timeout=10) as client:
        listed = client.get(
            f"{live.url}/api/conversations/{conversation.pk}/messages/",
            headers={"Authorization": f"Bearer {key}"},
        )
    assert listed.status_code == 200
    assert listed.json()["results"][-1]["status"] == "pending"
    caller.join(10)
    assert done["completion"].choices[0].message.content == "slow but fine"
    answer = Message.objects.get(conversation=conversation, role="assistant")
    assert (answer.status, answer.content) == ("complete", "slow but fine")
    assert UsageRecord.objects.get(user=user).calls == 1


def test_a_stream_that_breaks_upstream_ends_with_an_error_event(sdk, token, upstream):
    from tests.fakes.openai_server import broken_stream

    user, _ = token
    upstream.enqueue(broken_stream("half an answer", chunks=["half ", "an answer"]))
    received = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in sdk.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert "".join(received) == "half an answer"
    assert "sk-" not in str(caught.value)
    answer = Message.objects.get(conversation__owner=user, role="assistant")
    assert (answer.status, answer.content, answer.error_code) == (
        "failed",
        "half an answer",
        "upstream_unavailable",
    )
    assert UsageRecord.objects.get(user=user).estimated_tokens > 0


def test_a_second_call_into_a_busy_conversation_is_a_conflict(sdk, token, upstream):
    import threading

    upstream.enqueue(reply("first"), reply("slow", delay=1.5))
    messages = [{"role": "user", "content": "go"}]
    first = sdk.chat.completions.with_raw_response.create(model="gpt-test", messages=messages)
    header = {"X-Kaiwa-Conversation": first.headers["x-kaiwa-conversation"]}
    slow = threading.Thread(
        target=sdk.chat.completions.create,
        kwargs={"model": "gpt-test", "messages": messages, "extra_headers": header},
    )
    slow.start()
    upstream.wait_for_requests(2)
    with pytest.raises(openai.ConflictError) as caught:
        sdk.chat.completions.create(model="gpt-test", messages=messages, extra_headers=header)
    slow.join(10)
    assert caught.value.body["code"] == "turn_in_progress"
    assert len(upstream.chat_requests()) == 2


@pytest.mark.parametrize("stream", [False, True])
def test_nul_characters_in_the_models_reply_are_not_stored(sdk, token, upstream, stream):
    user, _ = token
    upstream.enqueue(reply("a\u0000b\u0000", chunks=["a\u0000", "b\u0000"], usage=(10, 2)))

    answer = sdk.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "NUL"}], stream=stream
    )
    if stream:
        list(answer)

    stored = Message.objects.get(conversation__owner=user, role="assistant")
    assert (stored.status, stored.content) == ("complete", "ab")
