"""Edit (IME-safe) and regenerate in Chromium: new versions, the old branch kept, two tabs."""

import pytest
from playwright.async_api import expect

from conversations.models import Conversation, Message
from tests.browser.conftest import db
from tests.browser.helpers import (
    LAST_REPLY,
    REPLIES,
    USERS,
    expect_complete,
    open_conversation,
    send,
    slow_reply,
)
from tests.factories import ConversationFactory
from tests.fakes.openai_server import reply

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]


@pytest.fixture
def conversation(page_user):
    return ConversationFactory(owner=page_user, title="版の会話")


def _seen_by_model(upstream) -> list[tuple[str, str]]:
    """The last request's conversation as the model received it (without the system prompt)."""
    return [(m["role"], m["content"]) for m in upstream.chat_requests()[-1].messages[1:]]


def _versions(conversation, role):
    return list(
        Message.objects.filter(conversation=conversation, role=role)
        .order_by("created_at")
        .values_list("content", "parent_id")
    )


# Enters that belong to an IME conversion, in the inline editor: none may send.
IME_ENTERS = """
() => {
  const box = document.getElementById('message-editor-input');
  const enter = (init) => new KeyboardEvent('keydown', {
    key: 'Enter', code: 'Enter', bubbles: true, cancelable: true, ...init,
  });
  const prevented = [];
  box.dispatchEvent(new CompositionEvent('compositionstart', { bubbles: true }));
  // The confirming Enter, flagged isComposing (Chrome, Firefox).
  const a = enter({ isComposing: true });
  box.dispatchEvent(a);
  prevented.push(a.defaultPrevented);
  // An Enter between compositionstart and compositionend, whatever its flags.
  const b = enter({});
  box.dispatchEvent(b);
  prevented.push(b.defaultPrevented);
  box.dispatchEvent(new CompositionEvent('compositionend', { bubbles: true, data: '質問' }));
  // Safari: compositionend first, then the confirming keydown with keyCode 229.
  const c = enter({});
  Object.defineProperty(c, 'keyCode', { get: () => 229 });
  box.dispatchEvent(c);
  prevented.push(c.defaultPrevented);
  return prevented;
}
"""


async def test_edit_in_place_is_ime_safe_and_keeps_the_old_branch(
    browsing, upstream, page_user, conversation
):
    upstream.enqueue(reply("最初の答え"))
    page = await open_conversation(browsing, page_user, conversation)
    await send(page, "最初の質問")
    await expect_complete(page, "最初の答え")
    user = page.locator(USERS).first

    # Escape cancels: the message is unchanged and the keyboard is back on Edit.
    await user.locator("[data-action=edit]").click()
    editor = page.locator("#message-editor-input")
    await expect(editor).to_be_focused()
    await expect(editor).to_have_value("最初の質問")
    await page.keyboard.press("Escape")
    await expect(page.locator("[data-editor]")).to_have_count(0)
    await expect(user.locator("[data-body]")).to_have_text("最初の質問")
    await expect(user.locator("[data-action=edit]")).to_be_focused()

    # Opened again from the keyboard; Shift+Enter breaks the line.
    await page.keyboard.press("Enter")
    await expect(editor).to_be_focused()
    await editor.fill("直した質問")
    await page.keyboard.press("End")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("二行目")
    await expect(editor).to_have_value("直した質問\n二行目")

    upstream.enqueue(reply("二番目の答え"))
    requests_before = len(upstream.chat_requests())
    assert await page.evaluate(IME_ENTERS) == [False, False, False]
    await page.wait_for_timeout(300)
    assert len(upstream.chat_requests()) == requests_before
    await expect(editor).to_have_value("直した質問\n二行目")

    # After the conversion, a plain Enter saves and sends.
    await editor.press("Enter")
    await expect_complete(page, "二番目の答え")
    await expect(page.locator(USERS)).to_have_count(1)
    await expect(user.locator("[data-body]")).to_have_text("直した質問\n二行目")
    await expect(user.locator("[data-version-label]")).to_have_text("2 / 2")
    await expect(user.locator("[data-versions]")).to_be_visible()
    # The model saw the new branch only.
    assert _seen_by_model(upstream) == [("user", "直した質問\n二行目")]
    # Both versions are stored, siblings under the same (no) parent.
    assert await db(_versions, conversation, "user") == [
        ("最初の質問", None),
        ("直した質問\n二行目", None),
    ]

    # The switcher brings the first version back, with its reply.
    await user.locator("[data-action=previous-version]").click()
    await expect(user.locator("[data-body]")).to_have_text("最初の質問")
    await expect(user.locator("[data-version-label]")).to_have_text("1 / 2")
    await expect_complete(page, "最初の答え")
    # At the first version the keyboard stays on the switcher's other arrow.
    await expect(user.locator("[data-action=next-version]")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(user.locator("[data-body]")).to_have_text("直した質問\n二行目")
    await expect_complete(page, "二番目の答え")
    browsing.watch.assert_clean()


async def test_regenerate_adds_a_version_and_the_switcher_chooses_the_path(
    browsing, upstream, page_user, conversation
):
    upstream.enqueue(reply("一つ目の答え"))
    page = await open_conversation(browsing, page_user, conversation)
    await send(page, "質問")
    await expect_complete(page, "一つ目の答え")
    await expect(page.locator(LAST_REPLY).locator("[data-versions]")).to_be_hidden()

    upstream.enqueue(slow_reply("二つ目の答え", size=2))
    await page.locator(LAST_REPLY).locator("[data-action=regenerate]").click()
    await expect_complete(page, "二つ目の答え")
    await expect(page.locator(REPLIES)).to_have_count(1)
    await expect(page.locator(USERS)).to_have_count(1)
    reply_row = page.locator(LAST_REPLY)
    await expect(reply_row.locator("[data-version-label]")).to_have_text("2 / 2")
    # The model was asked the same question again, without the first answer.
    assert _seen_by_model(upstream) == [("user", "質問")]
    replies = await db(_versions, conversation, "assistant")
    assert [content for content, _ in replies] == ["一つ目の答え", "二つ目の答え"]
    assert replies[0][1] == replies[1][1] is not None

    await reply_row.locator("[data-action=previous-version]").click()
    await expect_complete(page, "一つ目の答え")
    await expect(reply_row.locator("[data-version-label]")).to_have_text("1 / 2")
    # The choice is the conversation's: a reload shows it, and the next send continues it.
    await page.reload()
    await expect_complete(page, "一つ目の答え")
    upstream.enqueue(reply("続きの答え"))
    await send(page, "続き")
    await expect_complete(page, "続きの答え")
    assert _seen_by_model(upstream) == [
        ("user", "質問"),
        ("assistant", "一つ目の答え"),
        ("user", "続き"),
    ]
    # The other version is one click away, and the path below it is its own.
    first_reply = page.locator(REPLIES).first
    await first_reply.locator("[data-action=next-version]").click()
    await expect(page.locator(REPLIES)).to_have_count(1)
    await expect_complete(page, "二つ目の答え")
    await expect(page.locator(LAST_REPLY).locator("[data-version-label]")).to_have_text("2 / 2")
    browsing.watch.assert_clean()


async def test_a_second_tab_redraws_the_branch_after_an_edit_or_a_regeneration(
    browsing, upstream, page_user, conversation
):
    upstream.enqueue(reply("元の答え"))
    first = await open_conversation(browsing, page_user, conversation)
    await send(first, "元の質問")
    await expect_complete(first, "元の答え")
    second = await open_conversation(
        browsing, page_user, conversation, page=await browsing.context.new_page()
    )
    await expect_complete(second, "元の答え")

    # An edit in the first tab replaces the branch in the second.
    upstream.enqueue(slow_reply("新しい枝の答え", size=2))
    await first.locator(USERS).first.locator("[data-action=edit]").click()
    await first.locator("#message-editor-input").fill("別の質問")
    await first.locator("#message-editor-input").press("Enter")
    await expect_complete(second, "新しい枝の答え")
    await expect(second.locator(USERS)).to_have_count(1)
    await expect(second.locator(USERS).first.locator("[data-body]")).to_have_text("別の質問")
    await expect(second.locator(USERS).first.locator("[data-version-label]")).to_have_text("2 / 2")
    await expect(second.locator(REPLIES)).to_have_count(1)
    await expect_complete(first, "新しい枝の答え")

    # A regeneration in the second tab replaces the reply in the first.
    upstream.enqueue(slow_reply("再生成した答え", size=2))
    await second.locator(LAST_REPLY).locator("[data-action=regenerate]").click()
    await expect_complete(first, "再生成した答え")
    await expect(first.locator(REPLIES)).to_have_count(1)
    await expect(first.locator(LAST_REPLY).locator("[data-version-label]")).to_have_text("2 / 2")
    await expect_complete(second, "再生成した答え")
    await expect(second.locator(LAST_REPLY).locator("[data-version-label]")).to_have_text("2 / 2")

    conversation_row = await db(Conversation.objects.get, pk=conversation.pk)
    newest = await db(
        lambda: (
            Message.objects.filter(conversation=conversation, role="assistant")
            .order_by("-created_at")
            .first()
        )
    )
    assert conversation_row.active_leaf_id == newest.pk
    browsing.watch.assert_clean()
