"""Actions on the chat page in Chromium: copy a message or a code block, clear, export."""

import asyncio
import json
from pathlib import Path

import pytest
from playwright.async_api import expect

from conversations.models import Conversation, Message
from tests.browser.conftest import db
from tests.browser.helpers import LAST_REPLY, send
from tests.factories import ConversationFactory
from tests.fakes.openai_server import reply

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

REPLY = "答えは **42** です。\n\n```python\nprint('こんにちは')\nx = 1\n```\n\n以上です。"
FIRST_USER = "#message-list .message--user >> nth=0"


@pytest.fixture
def conversation(page_user):
    return ConversationFactory(owner=page_user, title="操作の会話")


async def _exchange(browsing, upstream, page_user, conversation, *, question="質問です"):
    """Open the conversation and send one message; the reply is REPLY."""
    upstream.enqueue(reply(REPLY))
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto(f"/c/{conversation.id}/")
    await send(page, question)
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    return page


async def _downloaded_text(download) -> str:
    path = Path(await download.path())
    return await asyncio.to_thread(path.read_text, encoding="utf-8")


async def _clipboard(page) -> str:
    return await page.evaluate("() => navigator.clipboard.readText()")


async def test_copy_a_reply_its_code_and_a_question(
    browsing, live, upstream, page_user, conversation
):
    await browsing.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    page = await _exchange(browsing, upstream, page_user, conversation)
    reply_row = page.locator(LAST_REPLY)
    copy = reply_row.locator("[data-action=copy]")
    await expect(copy).to_have_attribute("aria-label", "メッセージをコピー")

    # The reply as written (Markdown), not as shown.
    await copy.click()
    await expect(reply_row.locator("[data-copy-status]")).to_have_text("コピーしました。")
    assert await _clipboard(page) == REPLY

    # A code block's own button copies the code alone; it is reached and pressed by keyboard.
    code_button = reply_row.locator(".code-block [data-action=copy-code]")
    await expect(code_button).to_have_attribute("aria-label", "コードをコピー")
    await code_button.focus()
    await page.keyboard.press("Enter")
    await expect(code_button).to_have_text("コピーしました")
    assert await _clipboard(page) == "print('こんにちは')\nx = 1"

    await page.locator(FIRST_USER).locator("[data-action=copy]").click()
    assert await _clipboard(page) == "質問です"

    # The page rendered by the server carries the same Markdown and the same buttons.
    await page.reload()
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    await page.locator(LAST_REPLY).locator(".code-block [data-action=copy-code]").click()
    assert await _clipboard(page) == "print('こんにちは')\nx = 1"
    await page.locator(LAST_REPLY).locator("[data-action=copy]").click()
    assert await _clipboard(page) == REPLY
    browsing.watch.assert_clean()


async def test_actions_speak_english_too(english_browsing, live, upstream, page_user, conversation):
    await english_browsing.context.grant_permissions(
        ["clipboard-read", "clipboard-write"], origin=live.url
    )
    page = await _exchange(english_browsing, upstream, page_user, conversation)
    reply_row = page.locator(LAST_REPLY)
    await expect(reply_row.locator("[data-action=copy]")).to_have_attribute(
        "aria-label", "Copy the message"
    )
    await expect(reply_row.locator("[data-action=regenerate]")).to_have_attribute(
        "aria-label", "Regenerate the reply"
    )
    await expect(page.locator(FIRST_USER).locator("[data-action=edit]")).to_have_attribute(
        "aria-label", "Edit the message"
    )
    await reply_row.locator("[data-action=copy]").click()
    await expect(reply_row.locator("[data-copy-status]")).to_have_text("Copied.")
    await expect(page.locator("#clear-conversation")).to_have_text("Clear conversation")
    english_browsing.watch.assert_clean()


async def test_clear_asks_first_then_empties_the_conversation(
    browsing, upstream, page_user, conversation
):
    page = await _exchange(browsing, upstream, page_user, conversation)
    dialog = page.locator("#confirm-dialog")

    await page.click("#clear-conversation")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("[data-message]")).to_contain_text("この会話を消去しますか")
    await dialog.get_by_role("button", name="キャンセル").click()
    await expect(dialog).to_be_hidden()
    await expect(page.locator("#message-list > li")).to_have_count(2)
    assert await db(Message.objects.filter(conversation=conversation).count) == 2

    # Reached by keyboard: focus the button, Enter opens the dialog, Enter on its OK confirms.
    await page.locator("#clear-conversation").focus()
    await page.keyboard.press("Enter")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("[data-ok]")).to_be_focused()
    await expect(dialog.locator("[data-ok]")).to_have_text("会話を消去")
    await page.keyboard.press("Enter")
    await expect(page.locator("#message-list > li")).to_have_count(0)
    await expect(page.locator("#chat-empty")).to_be_visible()
    await expect(page.locator("#connection-status")).to_have_text("会話を消去しました。")
    assert await db(Message.objects.filter(conversation=conversation).count) == 0
    assert await db(Conversation.objects.filter(pk=conversation.pk).exists)

    await page.reload()
    await expect(page.locator("#chat-empty")).to_be_visible()
    await expect(page.locator("#message-list > li")).to_have_count(0)
    browsing.watch.assert_clean()


async def test_export_links_download_the_conversation(browsing, live, upstream, page_user):
    upstream.enqueue(reply(REPLY))
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto("/")
    # A new conversation has nothing to export yet.
    await expect(page.locator("#conversation-tools")).to_be_hidden()
    await send(page, "書き出してみる")
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    # The conversation created by the first send can be exported at once.
    markdown_link = page.locator("#export-markdown")
    await expect(markdown_link).to_be_visible()
    await expect(markdown_link).to_have_attribute("aria-label", "Markdown で書き出す")

    async with page.expect_download() as info:
        await markdown_link.click()
    download = await info.value
    text = await _downloaded_text(download)
    assert "書き出してみる" in text and REPLY in text
    assert download.suggested_filename.endswith(".md")

    async with page.expect_download() as info:
        await page.locator("#export-json").click()
    exported = json.loads(await _downloaded_text(await info.value))
    conversation = await db(Conversation.objects.get, owner=page_user)
    assert exported["id"] == str(conversation.id)
    contents = [(m["role"], m["content"]) for m in exported["messages"] if m["role"] != "system"]
    assert contents == [("user", "書き出してみる"), ("assistant", REPLY)]
    browsing.watch.assert_clean()
