"""Image content parts on the OpenAI-compatible route (in process, the fake upstream)."""

import base64
import json

import pytest
from django.db import connection

from accounts.models import UserQuota
from accounts.services import api_token_create
from conversations.attachments import services
from conversations.models import Attachment, Conversation
from tests.attachment_files import damaged_images, image_bytes
from tests.fakes.openai_server import reply
from usage.models import DailyUsage, UsageRecord
from usage.services import usage_day

pytestmark = pytest.mark.django_db(transaction=True)

PNG = base64.b64encode(image_bytes(32, 32)).decode()
MESSAGES = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        ],
    }
]


@pytest.fixture
def key(user):
    return api_token_create(user=user, name="sdk")[1]


def _post(client, key, body):
    return client.post(
        "/v1/chat/completions",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )


def test_image_parts_are_relayed_to_a_vision_model(client, key, llm_upstream, settings, api_client):
    settings.LLM_MODELS = "gpt-test"
    settings.LLM_VISION_MODELS = ["gpt-test"]
    llm_upstream.enqueue(reply("A red square.", usage=(300, 4)))
    response = _post(client, key, {"model": "gpt-test", "messages": MESSAGES})
    assert response.status_code == 200, response.content
    assert llm_upstream.chat_requests()[-1].json["messages"] == MESSAGES
    stored = Conversation.objects.get().messages.get(role="user")
    assert stored.content == "What is this?\n[image_url]"
    # The image is kept as the message's attachment: history shows it.
    messages = api_client.get(f"/api/conversations/{stored.conversation_id}/messages/").json()
    (kept,) = messages["results"][0]["attachments"]
    assert (kept["kind"], kept["content_type"], kept["name"]) == ("image", "image/png", "image-1")
    assert api_client.get(kept["url"]).status_code == 200
    # The ledger counts the image tokens the provider reports.
    record = UsageRecord.objects.get()
    assert (record.prompt_tokens, record.completion_tokens) == (300, 4)


def test_image_parts_are_refused_for_a_model_that_cannot_see(client, key, llm_upstream, settings):
    settings.LLM_MODELS = "gpt-test"
    response = _post(client, key, {"model": "gpt-test", "messages": MESSAGES})
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert (error["code"], error["param"]) == (
        "vision_unsupported",
        "messages[0].content[1].image_url",
    )
    assert llm_upstream.chat_requests() == []
    assert not Conversation.objects.exists()


def test_a_body_with_an_image_may_pass_max_request_body_bytes(client, key, llm_upstream, settings):
    settings.LLM_MODELS = "gpt-test"
    settings.LLM_VISION_MODELS = ["gpt-test"]
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = len(PNG) // 2
    llm_upstream.enqueue(reply("ok"))
    response = _post(client, key, {"model": "gpt-test", "messages": MESSAGES})
    assert response.status_code == 200, response.content


@pytest.mark.parametrize(("name", "data"), damaged_images().items(), ids=damaged_images().keys())
def test_a_damaged_image_part_keeps_the_message_without_it(
    client, key, llm_upstream, settings, name, data
):
    settings.LLM_MODELS = "gpt-test"
    settings.LLM_VISION_MODELS = ["gpt-test"]
    llm_upstream.enqueue(reply("ok"))
    damaged = f"data:image/png;base64,{base64.b64encode(data).decode()}"
    messages = [dict(MESSAGES[0], content=[*MESSAGES[0]["content"], _image_part(damaged)])]
    response = _post(client, key, {"model": "gpt-test", "messages": messages})
    assert response.status_code == 200, response.content
    # The provider still gets every part as sent; Kaiwa keeps the one image it can read.
    assert llm_upstream.chat_requests()[-1].json["messages"] == messages
    stored = Conversation.objects.get().messages.get(role="user")
    assert stored.content == "What is this?\n[image_url]\n[image_url]"
    assert [link.attachment.name for link in stored.attachment_links.all()] == ["image-1"]
    assert stored.attachment_count == 1


def _image_part(url: str) -> dict:
    return {"type": "image_url", "image_url": {"url": url}}


def test_a_quota_refusal_leaves_no_image_file_behind(client, key, user, llm_upstream, settings):
    settings.LLM_MODELS = "gpt-test"
    settings.LLM_VISION_MODELS = ["gpt-test"]
    UserQuota.objects.create(user=user, daily_token_limit=10)
    DailyUsage.objects.create(user=user, day=usage_day(), tokens=10)
    response = _post(client, key, {"model": "gpt-test", "messages": MESSAGES})
    assert response.status_code == 429, response.content
    assert not Conversation.objects.exists() and not Attachment.objects.exists()
    root = settings.MEDIA_ROOT / "images" / "attachments"
    assert not root.exists() or not any(root.iterdir())


def test_images_are_decoded_before_the_transaction(
    client, key, llm_upstream, settings, monkeypatch
):
    settings.LLM_MODELS = "gpt-test"
    settings.LLM_VISION_MODELS = ["gpt-test"]
    llm_upstream.enqueue(reply("ok"))
    in_transaction = []
    inspect = services.inspect_upload

    def watched(**kwargs):
        in_transaction.append(connection.in_atomic_block)
        return inspect(**kwargs)

    monkeypatch.setattr(services, "inspect_upload", watched)
    response = _post(client, key, {"model": "gpt-test", "messages": MESSAGES})
    assert response.status_code == 200, response.content
    assert in_transaction == [False]
    assert Attachment.objects.count() == 1
