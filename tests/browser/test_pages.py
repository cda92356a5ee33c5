"""The other pages in Chromium: sidebar, settings, notes, images, tokens, language, phone."""

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.async_api import expect

from accounts.models import ApiToken
from conversations.models import Conversation, SavedNote
from tests.browser.conftest import db
from tests.browser.helpers import LAST_REPLY, send
from tests.factories import ConversationFactory, MessageFactory, SavedNoteFactory

CLIENT_CHECK = (Path(__file__).parent / "scripts" / "client_check.js").read_text(encoding="utf-8")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]


@pytest.fixture
def two_conversations(page_user):
    trip = ConversationFactory(owner=page_user, title="旅行の計画")
    dinner = ConversationFactory(owner=page_user, title="夕飯の献立")
    MessageFactory(conversation=dinner, content="カレーにしよう")
    return trip, dinner


async def test_sidebar_search_rename_and_delete(browsing, page_user, two_conversations):
    trip, dinner = two_conversations
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto(f"/c/{trip.id}/")
    items = page.locator("#conversation-list .conversation-item")
    await expect(items).to_have_count(2)

    # Search covers message text, through the API.
    await page.fill("#conversation-search-input", "カレー")
    await expect(items).to_have_count(1)
    await expect(items.first.locator("a")).to_have_text("夕飯の献立")
    await page.fill("#conversation-search-input", "存在しない言葉")
    await expect(items).to_have_count(0)
    await expect(page.locator("#conversation-list-empty")).to_have_text(
        "該当する会話はありません。"
    )
    await page.fill("#conversation-search-input", "")
    await expect(items).to_have_count(2)

    # Rename from the keyboard: the button, type, Enter.
    dinner_item = page.locator(f'#conversation-list [data-conversation-id="{dinner.id}"]')
    await dinner_item.locator("[data-action=rename]").click()
    rename = dinner_item.locator("input[name=title]")
    await expect(rename).to_be_focused()
    await rename.fill("晩ごはん")
    await rename.press("Enter")
    await expect(dinner_item.locator("a")).to_have_text("晩ごはん")
    assert (await db(Conversation.objects.get, pk=dinner.id)).title == "晩ごはん"

    # Delete asks first, in a real <dialog> in the page's language.
    await dinner_item.locator("[data-action=delete]").click()
    dialog = page.locator("#confirm-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("[data-message]")).to_have_text(
        "会話「晩ごはん」を削除しますか？元に戻せません。"
    )
    await dialog.locator("button[value=cancel]").click()
    await expect(items).to_have_count(2)
    await dinner_item.locator("[data-action=delete]").click()
    await dialog.locator("[data-ok]").click()
    await expect(items).to_have_count(1)
    assert not await db(lambda: Conversation.objects.filter(pk=dinner.id).exists())
    browsing.watch.assert_clean()


async def test_conversation_settings(browsing, page_user, two_conversations):
    trip, _ = two_conversations
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto(f"/c/{trip.id}/")
    await page.click("#open-settings")
    dialog = page.locator("#settings-dialog")
    await expect(dialog).to_be_visible()
    await page.get_by_label("システムプロンプト").fill("関西弁で答えてください。")
    model = page.get_by_label("モデル", exact=True)
    # The allowed models (LLM_MODELS of the live server) by label; the default is selected.
    await expect(model.locator("option")).to_have_text(["Test model（既定）", "Test mini"])
    await expect(model).to_have_value("gpt-test")
    await model.select_option(label="Test mini")
    await page.get_by_label("温度（temperature）").fill("5")
    await page.get_by_label("最大トークン数").fill("256")
    await page.click("#settings-save")
    # Out of range: the API's field error is shown and the dialog stays open.
    await expect(dialog.locator('[data-field-error="temperature"]')).to_be_visible()
    await expect(dialog).to_be_visible()
    await page.get_by_label("温度（temperature）").fill("1.2")
    await page.click("#settings-save")
    await expect(dialog).to_be_hidden()
    saved = await db(Conversation.objects.get, pk=trip.id)
    assert saved.system_prompt == "関西弁で答えてください。"
    assert (saved.model, saved.temperature, saved.max_tokens) == ("gpt-test-mini", 1.2, 256)

    # Clearing a number goes back to the server default (null).
    await page.click("#open-settings")
    await page.get_by_label("最大トークン数").fill("")
    await page.click("#settings-save")
    await expect(dialog).to_be_hidden()
    assert (await db(Conversation.objects.get, pk=trip.id)).max_tokens is None
    browsing.watch.assert_clean()


async def test_notes_create_edit_delete(browsing, page_user):
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto("/notes/")
    await expect(page.locator("#notes-empty")).to_be_visible()

    await page.fill("#note-create-title", "買い物")
    await page.fill("#note-create-content", "牛乳\n<b>卵</b>")
    await page.click("#note-create button[type=submit]")
    note = page.locator("#note-list .note").first
    await expect(note.locator("[data-title]")).to_have_text("買い物")
    await expect(note.locator("[data-content]")).to_have_text("牛乳\n<b>卵</b>")
    stored = await db(SavedNote.objects.get, owner=page_user)
    assert stored.content == "牛乳\n<b>卵</b>"

    await note.locator("[data-action=edit]").click()
    await expect(note.locator("input[name=title]")).to_be_focused()
    await note.locator("input[name=title]").fill("買い物リスト")
    await note.locator("textarea[name=content]").fill("牛乳と卵")
    await note.locator("button[type=submit]").click()
    await expect(note.locator("[data-title]")).to_have_text("買い物リスト")
    assert (await db(SavedNote.objects.get, pk=stored.pk)).content == "牛乳と卵"

    await note.locator("[data-action=delete]").click()
    await page.locator("#confirm-dialog [data-ok]").click()
    await expect(page.locator("#note-list .note")).to_have_count(0)
    await expect(page.locator("#notes-empty")).to_be_visible()
    assert not await db(lambda: SavedNote.objects.filter(owner=page_user).exists())
    browsing.watch.assert_clean()


@pytest.fixture
def tool_note(page_user):
    return SavedNoteFactory(owner=page_user, title="ツールが保存", content="from save_note")


async def test_notes_saved_elsewhere_are_listed(browsing, page_user, tool_note):
    await browsing.login_as(page_user)
    await browsing.page.goto("/notes/")
    await expect(browsing.page.locator("#note-list [data-title]")).to_have_text(["ツールが保存"])


async def test_images_generate_and_gallery(browsing, upstream, page_user):
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto("/images/")
    await expect(page.locator("#gallery-empty")).to_be_visible()

    await page.fill("#image-prompt", "富士山と桜")
    await page.select_option("#image-size", "1024x1024")
    await page.click("#image-submit")
    image = page.locator("#gallery .gallery__item img").first
    await expect(image).to_have_attribute("src", re.compile(r"^/api/images/[^/]+/file/$"))
    await expect(page.locator("#gallery-empty")).to_be_hidden()
    # The picture really loads, from this site's own owner-only URL.
    await page.wait_for_function(
        "() => { const i = document.querySelector('#gallery img'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )
    assert len(upstream.image_requests()) == 1

    await page.reload()
    image = page.locator("#gallery .gallery__item img")
    await expect(image).to_have_count(1)
    await expect(image).to_have_attribute("src", re.compile(r"^/api/images/[^/]+/file/$"))
    await expect(page.locator("#gallery [data-prompt]")).to_have_text("富士山と桜")
    await page.wait_for_function(
        "() => { const i = document.querySelector('#gallery img'); "
        "return i && i.complete && i.naturalWidth > 0; }"
    )
    browsing.watch.assert_clean()


def _api_status(url: str, token: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


async def test_tokens_create_shown_once_and_revoke(browsing, live, page_user):
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto("/accounts/tokens/")
    await page.fill("#token-name", "ノートPC")
    await page.click("#token-create button[type=submit]")
    plaintext_box = page.locator("#token-plaintext")
    await expect(plaintext_box).to_be_visible()
    token = await plaintext_box.input_value()
    assert token.startswith("kaiwa_")
    row = page.locator("#token-list tr").first
    await expect(row.locator("[data-name]")).to_have_text("ノートPC")
    url = f"{live.url}/api/conversations/"
    assert await db(_api_status, url, token) == 200

    # Shown once: a reload lists the token but never its plaintext again.
    await page.reload()
    await expect(page.locator("#token-created")).to_be_hidden()
    assert token not in await page.content()
    await expect(page.locator("#token-list tr")).to_have_count(1)

    await page.locator("#token-list [data-action=revoke]").click()
    await expect(page.locator("#confirm-dialog [data-message]")).to_contain_text("ノートPC")
    await page.locator("#confirm-dialog [data-ok]").click()
    await expect(page.locator("#token-list tr")).to_have_count(0)
    await expect(page.locator("#tokens-empty")).to_be_visible()
    assert not await db(lambda: ApiToken.objects.filter(user=page_user).exists())
    assert await db(_api_status, url, token) == 401
    browsing.watch.assert_clean()


async def test_japanese_and_english_browsers(browsing, english_browsing, upstream, page_user):
    for session in (browsing, english_browsing):
        await session.login_as(page_user)
    ja, en = browsing.page, english_browsing.page
    await ja.goto("/")
    await en.goto("/")
    assert await ja.get_attribute("html", "lang") == "ja"
    assert await en.get_attribute("html", "lang") == "en"
    await expect(ja.locator("#send-button")).to_have_text("送信")
    await expect(en.locator("#send-button")).to_have_text("Send")
    await expect(ja.locator("#composer-input")).to_have_attribute(
        "placeholder", "メッセージを入力…"
    )
    await expect(en.locator("#composer-input")).to_have_attribute("placeholder", "Write a message…")

    # Strings the page script adds come from the catalogue in the page's language.
    await send(en, "hello")
    await expect(en.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    await en.reload()
    await en.locator("#conversation-list [data-action=delete]").first.click()
    await expect(en.locator("#confirm-dialog [data-message]")).to_have_text(
        re.compile(r"^Delete the conversation “hello”\? This cannot be undone\.$")
    )
    await en.locator("#confirm-dialog button[value=cancel]").click()

    # The language form switches, and the choice sticks over the browser's preference.
    await en.select_option("#language-select", "ja")
    await en.click(".lang-form button[type=submit]")
    await expect(en.locator("#send-button")).to_have_text("送信")
    assert await en.get_attribute("html", "lang") == "ja"
    browsing.watch.assert_clean()
    english_browsing.watch.assert_clean()


async def test_phone_width_and_keyboard(phone_browsing, page_user, two_conversations):
    trip, _ = two_conversations
    await phone_browsing.login_as(page_user)
    page = phone_browsing.page
    await page.goto(f"/c/{trip.id}/")
    # The first Tab reaches the skip link, and focus is visible (an outline is drawn).
    await page.keyboard.press("Tab")
    focused = await page.evaluate(
        "() => [document.activeElement.className,"
        " getComputedStyle(document.activeElement).outlineStyle]"
    )
    assert focused[0] == "skip-link" and focused[1] != "none"
    # Nothing is wider than the screen.
    assert await page.evaluate("() => document.documentElement.scrollWidth <= innerWidth")
    sidebar = page.locator("#sidebar")
    await expect(sidebar).to_be_hidden()
    toggle = page.locator("#sidebar-toggle")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.click()
    await expect(sidebar).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(page.locator("#conversation-search-input")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(sidebar).to_be_hidden()
    await expect(toggle).to_be_focused()

    # The composer is on screen and works.
    await expect(page.locator("#composer-input")).to_be_in_viewport()
    await send(page, "スマホから")
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    await expect(page.locator(LAST_REPLY)).to_be_in_viewport()
    phone_browsing.watch.assert_clean()


async def test_javascript_client(browsing, live, upstream, page_user):
    from accounts.services import api_token_create
    from tests.fakes.openai_server import reply

    _, token = await db(api_token_create, user=page_user, name="client.js")
    upstream.enqueue(reply("ストリームの返事です。", chunks=["スト", "リームの", "返事", "です。"]))
    page = browsing.page
    await page.goto("/accounts/login/")
    result = await page.evaluate(CLIENT_CHECK, token)
    assert result["splits"] == ['1|{"a":1} / 2|{"b":\n2} / 3|{"c":"語"}']
    types = [event["type"] for event in result["events"]]
    assert types[0] == "start" and types[-1] == "done" and "message" in types
    ids = [event["id"] for event in result["events"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    streamed = result["streamed"]
    assert streamed["content"] == "ストリームの返事です。" and streamed["finished"]
    assert streamed["error"] is None
    assert result["answer"]["conversation_id"] == streamed["conversationId"]
    assert result["answer"]["message"] == "echo: 二回目"
    # Resuming after event 1 replays the rest of the reply, not its start.
    assert [e["id"] for e in result["resumed"]][0] == 2
    assert result["again"]["content"] == "ストリームの返事です。"
    assert result["refused"] == {"isKaiwaError": True, "status": 401, "code": "not_authenticated"}
    sent = upstream.chat_requests()[0].json
    assert sent["temperature"] == 0.2
    assert json.dumps(sent, ensure_ascii=False).count("こんにちは") >= 1
    browsing.watch.assert_clean()
