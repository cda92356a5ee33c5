"""The version switcher in Chromium: ‹ n / m › follows a version down to its newest reply."""

import pytest
from playwright.async_api import expect

from conversations.models import Conversation
from tests.browser.conftest import db
from tests.browser.helpers import LAST_REPLY, REPLIES, USERS, expect_complete, open_conversation
from tests.factories import ConversationFactory, MessageFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]


@pytest.fixture
def conversation(page_user):
    return ConversationFactory(owner=page_user, title="版の会話")


@pytest.fixture
def branches(conversation):
    """Two versions of the question, each with its replies (the second has two)."""
    first = MessageFactory(conversation=conversation, role="user", content="一つ目の質問")
    MessageFactory(conversation=conversation, role="assistant", content="一の答え", parent=first)
    second = MessageFactory(
        conversation=conversation, role="user", content="二つ目の質問", parent=None
    )
    MessageFactory(conversation=conversation, role="assistant", content="二の答えA", parent=second)
    MessageFactory(conversation=conversation, role="assistant", content="二の答えB", parent=second)
    return conversation


async def test_the_switcher_follows_a_version_down_to_its_newest_reply(
    browsing, upstream, page_user, branches
):
    page = await open_conversation(browsing, page_user, branches)
    user = page.locator(USERS).first
    await expect(user.locator("[data-body]")).to_have_text("二つ目の質問")
    await expect(user.locator("[data-version-label]")).to_have_text("2 / 2")
    await expect_complete(page, "二の答えB")
    await expect(page.locator(LAST_REPLY).locator("[data-version-label]")).to_have_text("2 / 2")

    # Keyboard only: the reply's previous version, then the question's.
    await page.locator(LAST_REPLY).locator("[data-action=previous-version]").focus()
    await page.keyboard.press("Enter")
    await expect_complete(page, "二の答えA")
    await expect(page.locator(LAST_REPLY).locator("[data-version-label]")).to_have_text("1 / 2")
    await expect(page.locator(LAST_REPLY).locator("[data-action=next-version]")).to_be_focused()

    await user.locator("[data-action=previous-version]").focus()
    await page.keyboard.press("Enter")
    await expect(user.locator("[data-body]")).to_have_text("一つ目の質問")
    await expect(user.locator("[data-version-label]")).to_have_text("1 / 2")
    await expect_complete(page, "一の答え")
    await expect(page.locator(LAST_REPLY).locator("[data-versions]")).to_be_hidden()
    conversation = await db(Conversation.objects.select_related("active_leaf").get, pk=branches.pk)
    assert conversation.active_leaf.content == "一の答え"

    # Back to the second question: its newest reply, not the one chosen before.
    await user.locator("[data-action=next-version]").click()
    await expect(user.locator("[data-body]")).to_have_text("二つ目の質問")
    await expect_complete(page, "二の答えB")
    await expect(page.locator(REPLIES)).to_have_count(1)
    browsing.watch.assert_clean()
