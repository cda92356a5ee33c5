"""The chat page in Chromium: log in, send, stream, reload, reconnect, stop, retry, IME."""

import re

import pytest
from playwright.async_api import expect

from conversations.models import Conversation, Message
from tests.browser.conftest import db
from tests.browser.helpers import (
    LAST_REPLY,
    numbered,
    reply_text,
    send,
    slow_reply,
    wait_for_reply_text,
)
from tests.factories import ConversationFactory
from tests.fakes.openai_server import error

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]


@pytest.fixture
def conversation(page_user):
    return ConversationFactory(owner=page_user, title="ブラウザーの会話")


async def test_log_in_send_and_watch_the_reply_stream(browsing, live, upstream, page_user):
    text = "こんにちは。" + numbered("語", 40) + "\n\n最後は**太字**です。"
    upstream.enqueue(slow_reply(text))
    page = browsing.page

    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    await page.fill("#id_username", "hanako")
    await page.fill("#id_password", "pw-for-tests-123")
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url(f"{live.url}/")

    await send(page, "やあ")
    user_bubble = page.locator("#message-list .message--user").last
    await expect(user_bubble.locator("[data-body]")).to_have_text("やあ")
    # Part of the reply is on screen while it is still being written...
    await wait_for_reply_text(page, "語03", status="streaming")
    partial = await reply_text(page)
    assert partial.startswith("こんにちは。語00") and "太字" not in partial
    await expect(page.locator("#stop-button")).to_be_visible()
    # ...then the server's sanitised HTML replaces the streamed text.
    reply = page.locator(LAST_REPLY)
    await expect(reply).to_have_attribute("data-status", "complete")
    await expect(reply.locator("[data-body] strong")).to_have_text("太字")
    await expect(page.locator("#stop-button")).to_be_hidden()
    await expect(user_bubble).to_have_attribute("data-status", "complete")

    # The new conversation got its URL, its title and its place in the sidebar.
    await expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    conversation_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    await expect(page.locator("#chat-title")).to_have_text("やあ")
    await expect(
        page.locator(f'#conversation-list [data-conversation-id="{conversation_id}"] a')
    ).to_have_text("やあ")
    conversation = await db(Conversation.objects.get, pk=conversation_id, owner=page_user)
    stored = await db(Message.objects.get, conversation=conversation, role="assistant")
    assert stored.content == text and stored.status == "complete"
    browsing.watch.assert_clean()


async def test_reload_in_the_middle_of_a_reply_loses_nothing(
    browsing, upstream, page_user, conversation
):
    text = numbered("行", 80)
    upstream.enqueue(slow_reply(text))
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto(f"/c/{conversation.id}/")
    await send(page, "長い返事をください")
    await wait_for_reply_text(page, "行03", status="streaming")

    await page.reload()
    # The snapshot shows the text so far at once; the rest streams in after it.
    await wait_for_reply_text(page, "行00", status="streaming")
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    shown = await reply_text(page)
    assert shown == text.strip()
    assert shown.count("行00") == 1 and shown.count("行79") == 1
    assert await page.locator("#message-list .message--user").count() == 1
    stored = await db(Message.objects.get, conversation=conversation, role="assistant")
    assert stored.content == text and stored.status == "complete"
    browsing.watch.assert_clean()


SOCKET_TRACKER = """
(() => {
  const Native = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args); window.__sockets.push(this); }
  };
})();
"""


async def test_a_dropped_connection_reconnects_and_resumes(
    browsing, upstream, page_user, conversation
):
    text = numbered("波", 70)
    upstream.enqueue(slow_reply(text))
    await browsing.login_as(page_user)
    await browsing.context.add_init_script(SOCKET_TRACKER)
    page = browsing.page
    await page.goto(f"/c/{conversation.id}/")
    await send(page, "続けて")
    await wait_for_reply_text(page, "波05", status="streaming")

    # The network drops the socket mid-reply (the page did not ask for it).
    await page.evaluate("() => window.__sockets[window.__sockets.length - 1].close()")
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    assert await reply_text(page) == text.strip()
    assert await page.evaluate("() => window.__sockets.length") >= 2
    await expect(page.locator("#connection-status")).to_have_text("")
    browsing.watch.assert_clean()


async def test_stop_keeps_the_partial_reply(browsing, upstream, page_user, conversation):
    text = numbered("止", 120)
    upstream.enqueue(slow_reply(text))
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto(f"/c/{conversation.id}/")
    await send(page, "止めてみる")
    await wait_for_reply_text(page, "止03", status="streaming")

    await page.click("#stop-button")
    reply = page.locator(LAST_REPLY)
    await expect(reply).to_have_attribute("data-status", "cancelled")
    await expect(reply.locator("[data-status-label]")).to_have_text("停止しました")
    kept = await reply_text(page)
    assert kept.startswith("止00 止01 止02 止03") and len(kept) < len(text.strip())
    await expect(page.locator("#send-button")).to_be_enabled()
    stored = await db(Message.objects.get, conversation=conversation, role="assistant")
    assert stored.status == "cancelled"
    assert stored.content.strip() == kept
    browsing.watch.assert_clean()


async def test_an_error_is_shown_in_place_and_retry_sends_again(
    browsing, upstream, page_user, conversation
):
    upstream.enqueue(error(500))
    upstream.enqueue(slow_reply("二度目は成功しました。", interval=0.01))
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto(f"/c/{conversation.id}/")
    await send(page, "失敗するかな")
    failed = page.locator(LAST_REPLY)
    await expect(failed).to_have_attribute("data-status", "failed")
    await expect(failed.locator("[data-error-text]")).to_have_text(
        "モデルのプロバイダーがエラーを返しました。"
    )

    await failed.locator("[data-action=retry]").click()
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    assert await reply_text(page) == "二度目は成功しました。"
    # The failure stays in the history, without a second retry button.
    first = page.locator("#message-list .message--assistant").first
    await expect(first).to_have_attribute("data-status", "failed")
    await expect(first.locator("[data-action=retry]")).to_be_hidden()

    def user_messages():
        return list(
            Message.objects.filter(conversation=conversation, role="user").order_by("created_at")
        )

    users = await db(user_messages)
    assert [m.content for m in users] == ["失敗するかな", "失敗するかな"]
    assert users[0].client_id != users[1].client_id
    browsing.watch.assert_clean()


IME_ENTERS = """
() => {
  const box = document.getElementById('composer-input');
  const enter = (init) => new KeyboardEvent('keydown', {
    key: 'Enter', code: 'Enter', bubbles: true, cancelable: true, ...init,
  });
  const results = [];
  // 1. Chrome/Firefox: the confirming Enter is flagged isComposing.
  const a = enter({ isComposing: true });
  box.dispatchEvent(a);
  results.push(a.defaultPrevented);
  // 2. Safari: compositionend first, then a keydown with keyCode 229.
  box.dispatchEvent(new CompositionEvent('compositionstart', { bubbles: true }));
  box.dispatchEvent(new CompositionEvent('compositionend', { bubbles: true, data: '日本語' }));
  const b = enter({});
  Object.defineProperty(b, 'keyCode', { get: () => 229 });
  box.dispatchEvent(b);
  results.push(b.defaultPrevented);
  // 3. Between compositionstart and compositionend, whatever the flags say.
  box.dispatchEvent(new CompositionEvent('compositionstart', { bubbles: true }));
  const c = enter({});
  box.dispatchEvent(c);
  results.push(c.defaultPrevented);
  box.dispatchEvent(new CompositionEvent('compositionend', { bubbles: true, data: '語' }));
  return results;
}
"""


async def test_enter_that_confirms_an_ime_conversion_does_not_send(
    browsing, upstream, page_user, conversation
):
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto(f"/c/{conversation.id}/")
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    await page.fill("#composer-input", "日本語")
    assert await page.evaluate(IME_ENTERS) == [False, False, False]
    await page.wait_for_timeout(300)
    assert await page.locator("#message-list .message--user").count() == 0
    assert await page.input_value("#composer-input") == "日本語"

    # Shift+Enter breaks the line and sends nothing.
    await page.press("#composer-input", "End")
    await page.press("#composer-input", "Shift+Enter")
    await page.keyboard.type("二行目")
    assert await page.input_value("#composer-input") == "日本語\n二行目"
    await page.wait_for_timeout(200)
    assert await page.locator("#message-list .message--user").count() == 0
    assert upstream.chat_requests() == []

    # A plain Enter sends.
    await page.press("#composer-input", "Enter")
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    await expect(page.locator("#message-list .message--user [data-body]")).to_have_text(
        "日本語\n二行目"
    )
    assert await page.input_value("#composer-input") == ""
    assert upstream.chat_requests()[-1].messages[-1]["content"] == "日本語\n二行目"
    browsing.watch.assert_clean()


async def test_tool_calls_are_shown_compactly(browsing, upstream, page_user, conversation):
    from tests.fakes.openai_server import tool_calls

    upstream.enqueue(tool_calls([("save_note", {"title": "牛乳", "content": "2本買う"})]))
    upstream.enqueue(slow_reply("メモに保存しました。", interval=0.01))
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto(f"/c/{conversation.id}/")
    await send(page, "牛乳を2本買うとメモして")
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    call = page.locator("#message-list .message--tools .tool-call")
    await expect(call.locator("[data-tool-name]")).to_have_text("save_note")
    await expect(call.locator("[data-tool-summary]")).to_contain_text("title: 牛乳")
    live_summary = await call.locator("[data-tool-summary]").inner_text()

    # The page rendered by the server shows the same row, before the reply.
    await page.reload()
    rows = page.locator("#message-list > li")
    await expect(rows).to_have_count(3)
    assert await rows.nth(1).get_attribute("data-role") == "tools"
    await expect(call.locator("[data-tool-summary]")).to_have_text(live_summary)
    browsing.watch.assert_clean()
