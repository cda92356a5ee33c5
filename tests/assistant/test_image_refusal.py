"""A provider's 400 that mentions images is `vision_unsupported` only when images were sent."""

import pytest

from conversations.models import Message
from tests.assistant.test_attachment_turns import send, upload
from tests.attachment_files import image_bytes
from tests.factories import ConversationFactory
from tests.fakes.openai_server import error

pytestmark = pytest.mark.django_db(transaction=True)

# What a provider may answer for a reason of its own that happens to name images.
ABOUT_IMAGES = {
    "error": {
        "message": "Invalid value for 'tool_choice': image generation is not enabled.",
        "type": "invalid_request_error",
        "param": "tool_choice",
        "code": None,
    }
}


@pytest.fixture
def conversation(user, settings):
    settings.LLM_VISION_MODELS = ["gpt-test*"]
    return ConversationFactory(owner=user, system_prompt="")


def test_a_refusal_naming_images_without_image_parts_is_an_upstream_error(
    api_client, llm_upstream, conversation
):
    llm_upstream.enqueue(error(400, ABOUT_IMAGES))
    response = send(api_client, conversation, "こんにちは", [])
    assert response.status_code == 502, response.content
    assert response.json()["code"] == "upstream_error"
    assert not any(
        isinstance(m["content"], list) for m in llm_upstream.chat_requests()[-1].json["messages"]
    )
    stored = Message.objects.get(conversation=conversation, role="assistant")
    assert stored.error_code == "upstream_error"


def test_the_same_refusal_with_an_image_part_is_vision_unsupported(
    api_client, llm_upstream, conversation
):
    llm_upstream.enqueue(error(400, ABOUT_IMAGES))
    photo = upload(api_client, conversation, image_bytes(), "a.png")
    response = send(api_client, conversation, "見て", [photo["id"]])
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "vision_unsupported"
