"""Attachments in Chromium: the paperclip, drag and drop, paste, progress, removal, errors,
and the thumbnails of a sent message after a reload. The files are made here with Pillow;
drops and pastes are real DragEvent / ClipboardEvent objects carrying a page-built
DataTransfer."""

import asyncio
import base64
import io
import re

import pytest
import pytest_asyncio
from PIL import Image
from playwright.async_api import expect

from conversations.models import Attachment, Conversation
from tests.browser.conftest import db
from tests.browser.helpers import LAST_REPLY, send
from tests.factories import ConversationFactory
from tests.fakes.openai_server import error, reply

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 20), (20, 20, 220)
COMPOSER_CHIPS = "#composer-attachments .attachment"
READY_CHIPS = "#composer-attachments .attachment[data-attachment-id]"
LAST_USER = "#message-list .message--user >> nth=-1"
# Bytes of no accepted type (binary, not text): what a Windows program starts with.
PROGRAM = b"MZ\x90\x00" + bytes(range(256)) * 8
FILE_URL = re.compile(r"^/api/attachments/[0-9a-f-]{36}/file/$")


def png(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def file_payload(name: str, mime: str, data: bytes) -> dict:
    return {"name": name, "type": mime, "data": base64.b64encode(data).decode()}


# Builds Files from base64 in the page and a DataTransfer carrying them (and text, if any).
BUILD_TRANSFER = """
  const transfer = new DataTransfer();
  for (const file of files) {
    const bytes = file.zeros
      ? new Uint8Array(file.zeros)
      : Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], file.name, { type: file.type }));
  }
  if (text) transfer.setData('text/plain', text);
  const init = { bubbles: true, cancelable: true };
  const target = document.querySelector(selector);
"""

DROP = (
    "([selector, files, text]) => {"
    + BUILD_TRANSFER
    + """
  for (const type of ['dragenter', 'dragover', 'drop']) {
    target.dispatchEvent(new DragEvent(type, { ...init, dataTransfer: transfer }));
  }
}"""
)

PASTE = (
    "([selector, files, text]) => {"
    + BUILD_TRANSFER
    + """
  const event = new ClipboardEvent('paste', { ...init, clipboardData: transfer });
  target.dispatchEvent(event);
  return event.defaultPrevented;
}"""
)


async def drop_files(page, selector: str, files: list[dict]) -> None:
    """Drag `files` over the element and drop them (dragenter, dragover, drop)."""
    await page.evaluate(DROP, [selector, files, ""])


async def paste_files(page, selector: str, files: list[dict], text: str = "") -> bool:
    """Paste `files` (and `text`, if any) into the element; True when the page took the paste
    (the event's default was prevented)."""
    return await page.evaluate(PASTE, [selector, files, text])


async def attach_with_button(page, name: str, mime: str, data: bytes) -> None:
    async with page.expect_file_chooser() as chooser_info:
        await page.click("#attach-button")
    chooser = await chooser_info.value
    await chooser.set_files(files=[{"name": name, "mimeType": mime, "buffer": data}])


def last_user_content(request):
    """The content of the last user message the model was sent (a string, or parts)."""
    return [m for m in request.messages if m.get("role") == "user"][-1]["content"]


def image_parts(request) -> list[str]:
    """The image URLs of the last user message the model was sent."""
    content = last_user_content(request)
    assert isinstance(content, list), f"the user message carried no parts: {content!r}"
    return [part["image_url"]["url"] for part in content if part.get("type") == "image_url"]


def data_url_color(url: str) -> tuple[int, int, int]:
    header, encoded = url.split(",", 1)
    assert header.startswith("data:image/"), header
    image = Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGB")
    return image.getpixel((image.width // 2, image.height // 2))


async def until(check, *, timeout: float = 5.0) -> None:
    """Wait for what a page that is gone cannot signal: the effect of its keepalive request."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        assert loop.time() < deadline, "the page's request had no effect in time"
        await asyncio.sleep(0.1)


@pytest_asyncio.fixture(loop_scope="session", autouse=True)
async def _nothing_left_in_flight(transactional_db, browsing, page_user):
    """After each test, leave the page and wait for the deletions it sends on the way out
    (a draft conversation, unsent files: keepalive requests), so that none of them reaches
    the live server while the database is emptied for the next test."""
    yield
    await browsing.page.goto("about:blank")

    def settled() -> bool:
        # A draft: made by the page for a first upload, untitled and without messages.
        drafts = Conversation.objects.filter(owner=page_user, title="", messages__isnull=True)
        unsent = Attachment.objects.filter(owner=page_user, message_links__isnull=True)
        return not drafts.exists() and not unsent.exists()

    await until(lambda: db(settled), timeout=10)


def close_to(color, expected) -> bool:
    return all(abs(a - b) <= 8 for a, b in zip(color, expected, strict=True))


async def test_attach_by_button_drop_and_paste_then_send_and_see_thumbnails_after_reload(
    browsing, live, upstream, page_user
):
    upstream.enqueue(reply("3 枚の画像が見えます。"))
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto("/")
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    await expect(page.locator("#attach-button")).to_have_attribute("aria-label", "ファイルを添付")

    await attach_with_button(page, "赤.png", "image/png", png(RED))
    await expect(page.locator(READY_CHIPS)).to_have_count(1)

    await drop_files(page, "#message-list", [file_payload("green.png", "image/png", png(GREEN))])
    await expect(page.locator(READY_CHIPS)).to_have_count(2)
    await expect(page.locator(".chat")).not_to_have_class(re.compile(r"is-dropping"))

    taken = await paste_files(
        page, "#composer-input", [file_payload("image.png", "image/png", png(BLUE))]
    )
    assert taken
    await expect(page.locator(READY_CHIPS)).to_have_count(3)
    names = await page.locator(f"{READY_CHIPS} [data-attachment-name]").all_inner_texts()
    assert names == ["赤.png", "green.png", "image.png"]
    # Each uploaded image shows its thumbnail from the owner-only file URL.
    thumb = page.locator(f"{READY_CHIPS} img[data-attachment-thumb]").first
    await expect(thumb).to_have_attribute("src", FILE_URL)

    # Uploading created the conversation, but it is not shown until the first send.
    await expect(page).to_have_url(f"{live.url}/")
    conversation = await db(Conversation.objects.get, owner=page_user)
    sidebar_item = page.locator(f'#conversation-list [data-conversation-id="{conversation.id}"]')
    await expect(sidebar_item).to_have_count(0)

    await send(page, "この画像は何色？")
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    await expect(page.locator(COMPOSER_CHIPS)).to_have_count(0)
    await expect(page).to_have_url(f"{live.url}/c/{conversation.id}/")
    user_bubble = page.locator(LAST_USER)
    await expect(user_bubble.locator(".attachment--image img")).to_have_count(3)

    # The model received the three images, in order, as image parts.
    colors = [data_url_color(url) for url in image_parts(upstream.last_chat_request)]
    assert len(colors) == 3
    assert [close_to(c, e) for c, e in zip(colors, [RED, GREEN, BLUE], strict=True)] == [True] * 3

    await page.reload()
    thumbs = page.locator(LAST_USER).locator(".attachment--image img")
    await expect(thumbs).to_have_count(3)
    for index in range(3):
        await expect(thumbs.nth(index)).to_have_attribute("src", FILE_URL)
    # The thumbnails really load (the owner's session may read the files)...
    loaded = await thumbs.evaluate_all(
        "(imgs) => Promise.all(imgs.map((img) => img.decode().then(() => img.naturalWidth)))"
    )
    assert loaded == [40, 40, 40]
    # ...and open in a new tab when clicked.
    link = page.locator(LAST_USER).locator(".attachment__link").first
    await expect(link).to_have_attribute("target", "_blank")
    await expect(link).to_have_attribute("href", FILE_URL)
    browsing.watch.assert_clean()


async def test_a_pasted_screenshot_is_sent_without_text(browsing, live, upstream, page_user):
    upstream.enqueue(reply("赤い画像です。"))
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto("/")
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    shot = file_payload("screenshot.png", "image/png", png(RED))
    assert await paste_files(page, "#composer-input", [shot])
    await expect(page.locator(READY_CHIPS)).to_have_count(1)
    await expect(page.locator("#composer-input")).to_have_value("")

    # The send button, with the box empty: the form is not held back as incomplete.
    await page.click("#send-button")
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    await expect(page.locator(LAST_REPLY).locator("[data-body]")).to_have_text("赤い画像です。")
    user_bubble = page.locator(LAST_USER)
    await expect(user_bubble.locator(".attachment--image img")).to_have_attribute("src", FILE_URL)
    # No empty text bubble under the thumbnail.
    await expect(user_bubble.locator("[data-body]")).to_be_hidden()
    await expect(page.locator(COMPOSER_CHIPS)).to_have_count(0)
    # The model received the image alone, without an empty text part.
    content = last_user_content(upstream.last_chat_request)
    assert [part["type"] for part in content] == ["image_url"]
    assert close_to(data_url_color(content[0]["image_url"]["url"]), RED)
    conversation = await db(Conversation.objects.get, owner=page_user)
    sidebar_item = page.locator(f'#conversation-list [data-conversation-id="{conversation.id}"]')
    await expect(sidebar_item).to_contain_text("screenshot.png")

    # After a reload the message is there, its thumbnail and no empty text with it.
    await page.reload()
    await expect(page.locator(LAST_USER).locator(".attachment--image img")).to_have_count(1)
    await expect(page.locator(LAST_USER).locator("[data-body]")).to_be_hidden()
    # An empty box without files still sends nothing.
    await page.press("#composer-input", "Enter")
    await expect(page.locator("#message-list .message--user")).to_have_count(1)
    assert len(upstream.chat_requests()) == 1
    browsing.watch.assert_clean()


async def test_uploads_show_progress_hold_the_send_button_and_can_be_removed(
    browsing, live, upstream, page_user
):
    await browsing.login_as(page_user)
    page = browsing.page
    release = asyncio.Event()

    async def hold_upload(route):
        await release.wait()
        await route.continue_()

    await page.route(re.compile(r"/api/conversations/[0-9a-f-]+/attachments/$"), hold_upload)
    await page.goto("/")
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    await attach_with_button(page, "photo.png", "image/png", png(RED))

    chip = page.locator(COMPOSER_CHIPS)
    await expect(chip.locator("progress")).to_be_visible()
    await expect(page.locator("#send-button")).to_be_disabled()
    await page.fill("#composer-input", "まだ送れない")
    await page.press("#composer-input", "Enter")
    await expect(page.locator("#composer-error")).to_have_text(
        "ファイルのアップロードが終わるまでお待ちください。"
    )
    await expect(page.locator("#message-list .message--user")).to_have_count(0)

    release.set()
    await expect(page.locator(READY_CHIPS)).to_have_count(1)
    await expect(chip.locator("progress")).to_be_hidden()
    await expect(page.locator("#send-button")).to_be_enabled()

    attachment_id = await page.locator(READY_CHIPS).get_attribute("data-attachment-id")
    remove = chip.locator('[data-action="remove-attachment"]')
    await expect(remove).to_have_attribute("aria-label", "photo.png を外す")
    async with page.expect_response(
        lambda response: response.request.method == "DELETE" and attachment_id in response.url
    ) as deleted:
        await remove.click()
    assert (await deleted.value).status == 204
    await expect(page.locator(COMPOSER_CHIPS)).to_have_count(0)
    await expect(page.locator("#composer-input")).to_be_focused()
    assert not await db(Attachment.objects.filter(pk=attachment_id).exists)

    upstream.enqueue(reply("文字だけ"))
    await send(page, "添付なしで送る")
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    await expect(page.locator(LAST_USER).locator(".attachment")).to_have_count(0)
    assert last_user_content(upstream.last_chat_request) == "添付なしで送る"
    browsing.watch.assert_clean()


async def test_the_progress_bar_follows_the_bytes_sent(browsing, live, page_user):
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto("/")
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    # Chromium's network emulation: about two seconds for the upload below.
    cdp = await browsing.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 500_000},
    )
    data = b"".join(b"line %06d of a long document\n" % i for i in range(32_000))  # 960 kB
    await attach_with_button(page, "long.txt", "text/plain", data)
    # XMLHttpRequest's upload progress moves the bar part of the way...
    await page.wait_for_function(
        """() => {
            const bar = document.querySelector('#composer-attachments progress');
            return bar && bar.hasAttribute('value') && bar.value > 0.1 && bar.value < 0.9;
        }"""
    )
    await expect(page.locator("#send-button")).to_be_disabled()
    # ...and the bar goes when the file is in.
    await expect(page.locator(READY_CHIPS)).to_have_count(1, timeout=30_000)
    await expect(page.locator(READY_CHIPS).locator("progress")).to_be_hidden()
    await expect(page.locator("#send-button")).to_be_enabled()
    browsing.watch.assert_clean()


async def test_refused_files_are_explained_next_to_the_composer(browsing, live, page_user):
    await browsing.login_as(page_user)
    page = browsing.page
    uploads = []
    page.on("request", lambda r: uploads.append(r.url) if r.url.endswith("/attachments/") else None)
    await page.goto("/")
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    # Larger than ATTACHMENT_MAX_BYTES (20 MiB): refused at once, without uploading it.
    big = {"name": "big.png", "type": "image/png", "zeros": 21 * 1024 * 1024}
    await drop_files(page, "#message-list", [big])
    error = page.locator("#attachment-error")
    await expect(error).to_have_text("big.png を添付できませんでした: 20.0 MB を超えています。")
    assert uploads == []
    await expect(page.locator(COMPOSER_CHIPS)).to_have_count(0)

    await drop_files(
        page, "#composer-input", [file_payload("setup.exe", "application/octet-stream", PROGRAM)]
    )
    # The server judges the bytes; its code reads in the page's language.
    await expect(error).to_contain_text(
        "setup.exe を添付できませんでした: この種類のファイルは添付できません。"
    )
    await expect(page.locator(COMPOSER_CHIPS)).to_have_count(0)
    # A paste of text with a picture beside it (an office application's copy) is text.
    taken = await paste_files(
        page, "#composer-input", [file_payload("cells.png", "image/png", png(GREEN))], text="A1\tB1"
    )
    assert not taken
    await expect(page.locator(COMPOSER_CHIPS)).to_have_count(0)
    browsing.watch.assert_clean()


async def test_documents_show_as_chips_with_the_part_the_model_read(
    browsing, live, upstream, page_user
):
    upstream.enqueue(reply("読みました。"))
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto("/")
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    short = "".join(f"line {i}: the quick brown fox\n" for i in range(40)).encode()
    # Far more than LLM_CONTEXT_TOKENS (12,000) holds: the model reads its first lines.
    long = "\n".join(f"row {i:04d}: jumps over the lazy dog" for i in range(3000)).encode()
    await attach_with_button(page, "notes.txt", "text/plain", short)
    await drop_files(page, "#message-list", [file_payload("長い.txt", "text/plain", long)])
    chips = page.locator(READY_CHIPS)
    await expect(chips).to_have_count(2)
    await expect(chips.first).to_have_attribute("data-kind", "document")
    await expect(chips.first.locator("[data-attachment-name]")).to_have_text("notes.txt")
    await expect(chips.first.locator("[data-attachment-size]")).to_have_text("1.1 KB")  # 1,150 B

    await send(page, "ファイルを要約して")
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    sent = str(upstream.last_chat_request.messages)
    assert "line 39: the quick brown fox" in sent and "row 0000" in sent
    assert "row 2999" not in sent
    note = re.compile(r"^全3000行中 1–\d+行$")
    for reload in (False, True):
        if reload:
            await page.reload()
        documents = page.locator(LAST_USER).locator(".attachment--document")
        await expect(documents.locator("[data-attachment-name]")).to_have_text(
            ["notes.txt", "長い.txt"]
        )
        await expect(documents.first.locator("[data-attachment-note]")).to_be_hidden()
        await expect(documents.nth(1).locator("[data-attachment-note]")).to_have_text(note)
        await expect(documents.first.locator(".attachment__link")).to_have_attribute(
            "href", FILE_URL
        )
    browsing.watch.assert_clean()


async def test_the_attachment_controls_speak_english_and_names_stay_text(
    english_browsing, live, upstream, page_user
):
    upstream.enqueue(reply("Done."))
    await english_browsing.login_as(page_user)
    page = english_browsing.page
    await page.goto("/")
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    await expect(page.locator("#attach-button")).to_have_attribute("aria-label", "Attach files")
    await expect(page.locator(".drop-zone")).to_have_text("Drop files here to attach them")
    await drop_files(
        page, "#message-list", [file_payload("tool.exe", "application/x-msdownload", PROGRAM)]
    )
    await expect(page.locator("#attachment-error")).to_have_text(
        "tool.exe could not be attached: This kind of file cannot be attached."
    )

    # A file name is text wherever it is shown: nothing in it runs (the watch sees dialogs).
    name = "<img src=x onerror=alert(1)>.txt"
    await attach_with_button(page, name, "text/plain", b"hello\n" * 100)
    chip = page.locator(READY_CHIPS)
    await expect(chip.locator("[data-attachment-name]")).to_have_text(name)
    await expect(chip.locator("[data-attachment-size]")).to_have_text("600 bytes")
    await expect(chip.locator('[data-action="remove-attachment"]')).to_have_attribute(
        "aria-label", f"Remove {name}"
    )
    await expect(page.locator("#attachment-error")).to_be_hidden()
    await send(page, "Read it")
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    for reload in (False, True):
        if reload:
            await page.reload()
        shown = page.locator(LAST_USER).locator(".attachment--document")
        await expect(shown.locator("[data-attachment-name]")).to_have_text(name)
        await expect(shown.locator("[data-attachment-size]")).to_have_text("600 bytes")
        await expect(page.locator("#message-list img[src]")).to_have_count(0)
    english_browsing.watch.assert_clean()


async def test_a_model_that_cannot_read_images_sends_the_message_back(
    browsing, live, upstream, page_user
):
    conversation = await db(ConversationFactory, owner=page_user, model="gpt-test-mini")
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto(f"/c/{conversation.id}/")
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    await attach_with_button(page, "photo.png", "image/png", png(RED))
    await expect(page.locator(READY_CHIPS)).to_have_count(1)
    await send(page, "何が写っている？")

    await expect(page.locator("#attachment-error")).to_have_text(
        "このモデルは画像を読めません。別のモデルを選んでください。"
    )
    # The message is back in the composer, its file with it, to change and send again.
    await expect(page.locator("#composer-input")).to_have_value("何が写っている？")
    await expect(page.locator(READY_CHIPS)).to_have_count(1)
    await expect(page.locator("#message-list .message--user")).to_have_count(0)
    assert upstream.chat_requests() == []
    browsing.watch.assert_clean()


async def test_leaving_a_new_chat_with_unsent_files_deletes_its_draft_conversation(
    browsing, live, page_user
):
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto("/")
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    await attach_with_button(page, "draft.png", "image/png", png(RED))
    await expect(page.locator(READY_CHIPS)).to_have_count(1)
    draft = await db(Conversation.objects.get, owner=page_user)

    await page.goto("/notes/")
    await until(lambda: db(lambda: not Conversation.objects.filter(pk=draft.id).exists()))
    assert not await db(Attachment.objects.filter(owner=page_user).exists)
    browsing.watch.assert_clean()


async def test_retry_and_edit_keep_the_images_of_a_sent_message(
    browsing, live, upstream, page_user
):
    conversation = await db(ConversationFactory, owner=page_user)
    upstream.enqueue(error(500), reply("赤い四角です。"), reply("やはり赤です。"))
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto(f"/c/{conversation.id}/")
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    await attach_with_button(page, "赤.png", "image/png", png(RED))
    await expect(page.locator(READY_CHIPS)).to_have_count(1)
    await send(page, "何色？")
    failed = page.locator(LAST_REPLY)
    await expect(failed).to_have_attribute("data-status", "failed")

    # The stored message keeps its image: the retry is a new version of the reply, and the
    # model gets the image again.
    await failed.locator("[data-action=retry]").click()
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    await expect(page.locator(LAST_REPLY).locator("[data-body]")).to_have_text("赤い四角です。")
    await expect(page.locator("#message-list .message--user")).to_have_count(1)
    assert [
        close_to(data_url_color(url), RED) for url in image_parts(upstream.last_chat_request)
    ] == [True]

    # An edit keeps the message's image too, on screen and for the model.
    user = page.locator(LAST_USER)
    await user.locator("[data-action=edit]").click()
    await page.locator("#message-editor-input").fill("本当に何色？")
    await page.locator("#message-editor-input").press("Enter")
    await expect(page.locator(LAST_REPLY).locator("[data-body]")).to_have_text("やはり赤です。")
    edited = page.locator(LAST_USER)
    await expect(edited.locator("[data-body]")).to_have_text("本当に何色？")
    await expect(edited.locator(".attachment--image img")).to_have_attribute("src", FILE_URL)
    assert len(image_parts(upstream.last_chat_request)) == 1
    await page.reload()
    await expect(page.locator(LAST_USER).locator(".attachment--image img")).to_have_count(1)
    browsing.watch.assert_clean()


async def test_leaving_a_conversation_deletes_the_files_never_sent(browsing, live, page_user):
    conversation = await db(ConversationFactory, owner=page_user)
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto(f"/c/{conversation.id}/")
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    await attach_with_button(page, "unsent.png", "image/png", png(BLUE))
    await expect(page.locator(READY_CHIPS)).to_have_count(1)
    assert await db(Attachment.objects.filter(owner=page_user).count) == 1

    await page.goto("/notes/")
    await until(lambda: db(lambda: not Attachment.objects.filter(owner=page_user).exists()))
    assert await db(Conversation.objects.filter(pk=conversation.id).exists)
    browsing.watch.assert_clean()
