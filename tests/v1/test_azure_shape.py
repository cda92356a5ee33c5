"""`AzureOpenAI` pointed at Kaiwa, unchanged: deployment in the path, `api-key` header."""

import openai
import pytest

from conversations.models import Conversation
from tests.fakes.openai_server import reply


@pytest.fixture
def azure(live, token):
    client = openai.AzureOpenAI(
        azure_endpoint=live.url, api_key=token[1], api_version="2024-10-21", max_retries=0
    )
    yield client
    client.close()


def test_azure_client_stream_and_not(azure, token, upstream):
    user, _ = token
    upstream.enqueue(reply("Azure says hi"), reply("streamed reply", chunks=["streamed", " reply"]))
    messages = [{"role": "user", "content": "hi"}]

    completion = azure.chat.completions.create(model="gpt-test-mini", messages=messages)
    stream = azure.chat.completions.create(model="gpt-test-mini", messages=messages, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    assert completion.choices[0].message.content == "Azure says hi"
    assert text == "streamed reply"
    assert [r.json["model"] for r in upstream.chat_requests()] == ["gpt-test-mini"] * 2
    assert Conversation.objects.filter(owner=user, source="v1").count() == 2


def test_azure_unknown_deployment_and_bad_key(azure, live, upstream):
    with pytest.raises(openai.BadRequestError) as caught:
        azure.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body["code"] == "model_not_found"
    stranger = openai.AzureOpenAI(
        azure_endpoint=live.url, api_key="wrong", api_version="2024-10-21", max_retries=0
    )
    with pytest.raises(openai.AuthenticationError):
        stranger.chat.completions.create(
            model="gpt-test", messages=[{"role": "user", "content": "x"}]
        )
    assert upstream.chat_requests() == []
