"""Images of exchanges the context leaves out are not read from storage."""

import pytest

from assistant import attachment_context
from tests.assistant.test_attachment_turns import send, upload
from tests.attachment_files import image_bytes
from tests.factories import ConversationFactory
from tests.fakes.openai_server import reply

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conversation(user, settings):
    settings.LLM_VISION_MODELS = ["gpt-test*"]
    settings.LLM_SUMMARIZE_HISTORY = False
    return ConversationFactory(owner=user, system_prompt="")


def test_only_the_kept_exchanges_images_are_read(
    api_client, llm_upstream, conversation, settings, monkeypatch
):
    llm_upstream.enqueue(reply("赤です。"), reply("青です。"))
    old = upload(api_client, conversation, image_bytes(color=(255, 0, 0)), "red.png")
    assert send(api_client, conversation, "色は？", [old["id"]]).status_code == 201
    read = []
    data_url = attachment_context.image_data_url

    def counted(attachment):
        read.append(attachment.name)
        return data_url(attachment)

    monkeypatch.setattr(attachment_context, "image_data_url", counted)
    # Each exchange costs about 255 tokens of image and a few of text: one fits, two do not.
    settings.LLM_CONTEXT_TOKENS = 400
    new = upload(api_client, conversation, image_bytes(color=(0, 0, 255)), "blue.png")
    response = send(api_client, conversation, "これは？", [new["id"]])
    assert response.status_code == 201, response.content
    (sent,) = [m for m in llm_upstream.chat_requests()[-1].json["messages"] if m["role"] == "user"]
    assert sent["content"][0] == {"type": "text", "text": "これは？"}
    assert sent["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert read == ["blue.png"]
