"""The official `openai` SDK against Kaiwa's /v1 routes over real HTTP (daphne), Kaiwa
relaying to the fake OpenAI upstream."""

import openai
import pytest

from conversations.models import Conversation, Message
from tests.fakes.openai_server import reply
from usage.models import UsageRecord

MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hello there"},
]


def _stored(user) -> tuple[Conversation, list[Message]]:
    conversation = Conversation.objects.get(owner=user)
    return conversation, list(conversation.messages.order_by("created_at", "id"))


def test_models_lists_the_allow_list(sdk):
    assert [model.id for model in sdk.models.list()] == ["gpt-test", "gpt-test-mini"]


def test_completion_is_relayed_and_stored(sdk, token, upstream):
    user, _ = token
    upstream.enqueue(reply("Hi! How can I help?", usage=(12, 6)))

    completion = sdk.chat.completions.create(
        model="gpt-test-mini", messages=MESSAGES, temperature=0.3, seed=7, user="u-1"
    )

    assert completion.choices[0].message.content == "Hi! How can I help?"
    assert completion.usage.prompt_tokens == 12
    sent = upstream.last_chat_request.json
    assert sent["messages"] == MESSAGES
    assert (sent["model"], sent["temperature"], sent["seed"], sent["user"]) == (
        "gpt-test-mini",
        0.3,
        7,
        "u-1",
    )
    assert "sk-live-server-test-key" not in completion.model_dump_json()
    conversation, messages = _stored(user)
    assert conversation.source == Conversation.Source.V1
    assert [(m.role, m.content) for m in messages] == [
        ("system", "Be brief."),
        ("user", "Hello there"),
        ("assistant", "Hi! How can I help?"),
    ]
    answer = messages[-1]
    assert (answer.status, answer.prompt_tokens, answer.completion_tokens) == ("complete", 12, 6)
    assert answer.latency_ms is not None
    assert [m.parent_id for m in messages] == [None, messages[0].pk, messages[1].pk]
    assert conversation.active_leaf_id == answer.pk and conversation.active_turn_id is None
    record = UsageRecord.objects.get(user=user)
    assert (record.kind, record.model, record.prompt_tokens, record.completion_tokens) == (
        "chat",
        "gpt-test-mini",
        12,
        6,
    )


def test_stream_forwards_the_chunks_and_stores_the_reply(sdk, token, upstream):
    user, _ = token
    upstream.enqueue(reply("Streaming works fine", chunks=["Stream", "ing works", " fine"]))

    stream = sdk.chat.completions.create(
        model="gpt-test", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert pieces == ["Stream", "ing works", " fine"]
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    _, messages = _stored(user)
    assert messages[-1].content == "Streaming works fine"
    assert messages[-1].status == "complete"
    assert messages[-1].completion_tokens == chunks[-1].usage.completion_tokens


def test_stream_without_include_usage_has_no_usage_chunk_but_is_charged(sdk, token, upstream):
    user, _ = token
    upstream.enqueue(reply("abc def", usage=(5, 2)))

    chunks = list(sdk.chat.completions.create(model="gpt-test", messages=MESSAGES, stream=True))

    assert all(chunk.choices for chunk in chunks)
    assert upstream.last_chat_request.json["stream_options"] == {"include_usage": True}
    record = UsageRecord.objects.get(user=user)
    assert (record.prompt_tokens, record.completion_tokens, record.calls) == (5, 2, 1)


async def test_async_client_stream_and_not(live, token, upstream):
    user, key = token
    client = openai.AsyncOpenAI(base_url=f"{live.url}/v1", api_key=key, max_retries=0)
    upstream.enqueue(reply("first"), reply("second"))
    try:
        completion = await client.chat.completions.create(model="gpt-test", messages=MESSAGES)
        stream = await client.chat.completions.create(
            model="gpt-test", messages=MESSAGES, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    finally:
        await client.close()
    assert (completion.choices[0].message.content, text) == ("first", "second")


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [({"n": 2}, "n"), ({"extra_body": {"logit_bias_x": 1}}, "logit_bias_x")],
)
def test_n_and_unknown_parameters_are_refused_before_any_model_call(sdk, upstream, kwargs, param):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="gpt-test", messages=MESSAGES, **kwargs)
    assert caught.value.status_code == 400
    assert caught.value.body["param"] == param
    assert set(caught.value.body) == {"message", "type", "code", "param"}
    assert upstream.chat_requests() == []


def test_a_model_outside_the_allow_list_is_refused(sdk, upstream):
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="gpt-5-secret", messages=MESSAGES)
    assert caught.value.body["code"] == "model_not_found"
    assert upstream.chat_requests() == []


def test_a_bad_token_is_an_authentication_error(live, upstream):
    client = openai.OpenAI(base_url=f"{live.url}/v1", api_key="kaiwa_nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="gpt-test", messages=MESSAGES)
    assert caught.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    assert upstream.chat_requests() == []


def test_the_scheme_name_is_case_insensitive_and_sessions_play_no_part(live, token, upstream):
    import httpx2

    from tests.live_server import session_cookie

    user, key = token
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    url = f"{live.url}/v1/chat/completions"
    with httpx2.Client(timeout=10) as client:
        ok = client.post(url, json=body, headers={"Authorization": f"bearer {key}"})
        by_session = client.post(url, json=body, headers={"Cookie": session_cookie(user)})
    assert ok.status_code == 200
    assert by_session.status_code == 401
    assert by_session.json()["error"]["type"] == "authentication_error"
