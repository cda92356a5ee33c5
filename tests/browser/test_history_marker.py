"""The chat page marks where the model's view of a long conversation begins."""

import pytest
from playwright.async_api import expect

from conversations.models import Message
from tests.browser.conftest import db
from tests.browser.helpers import send, wait_for_reply_text
from tests.factories import ConversationFactory, MessageFactory
from tests.fakes.openai_server import reply

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

MARKER = "#message-list [data-context-marker]"


def _long_conversation(owner):
    """A little longer than the live server's LLM_CONTEXT_TOKENS (12000): one summary call."""
    conversation = ConversationFactory(owner=owner, title="長い会話")
    for i in range(30):
        MessageFactory(conversation=conversation, role="user", content=f"質問{i:02d} " + "あ" * 200)
        MessageFactory(
            conversation=conversation, role="assistant", content=f"答え{i:02d} " + "い" * 200
        )
    return conversation


async def test_the_marker_stands_before_the_first_message_the_model_saw(
    browsing, upstream, page_user
):
    conversation = await db(_long_conversation, page_user)
    upstream.enqueue(reply("これまでの要約"), reply("続けます"))
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto(f"/c/{conversation.id}/")
    await expect(page.locator(MARKER)).to_have_count(0)  # no reply has been cut yet

    await send(page, "続きをお願いします")
    await wait_for_reply_text(page, "続けます", status="complete")

    # Shown live, at the `done` of the reply…
    stored = await db(
        Message.objects.get, conversation=conversation, role="assistant", content="続けます"
    )
    assert stored.context_summarized and stored.context_start_id is not None
    marker = page.locator(MARKER)
    await expect(marker).to_have_text("これより前のメッセージは要約されています")
    following = marker.locator("xpath=following-sibling::li[1]")
    await expect(following).to_have_attribute("data-message-id", str(stored.context_start_id))

    # …and by the server after a reload.
    await page.reload()
    await expect(page.locator(MARKER)).to_have_count(1)
    await expect(page.locator(f"{MARKER} + li")).to_have_attribute(
        "data-message-id", str(stored.context_start_id)
    )
    browsing.watch.assert_clean()
