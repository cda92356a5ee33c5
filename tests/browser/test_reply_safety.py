"""A hostile model reply stays inert in a real browser, live and after a reload."""

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.helpers import LAST_REPLY, send
from tests.conversations.xss_corpus import XSS_PAYLOADS
from tests.factories import ConversationFactory
from tests.fakes.openai_server import reply

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

FIND_DANGER = (Path(__file__).parent / "scripts" / "find_danger.js").read_text(encoding="utf-8")


@pytest.fixture
def conversation(page_user):
    return ConversationFactory(owner=page_user, title="xss")


async def test_a_hostile_reply_is_inert(browsing, upstream, page_user, conversation):
    payload = "\n\n".join(XSS_PAYLOADS)
    chunks = [payload[i : i + 300] for i in range(0, len(payload), 300)]
    upstream.enqueue(reply(payload, chunks=chunks, interval=0.01))
    await browsing.login_as(page_user)
    page = browsing.page
    await page.goto(f"/c/{conversation.id}/")

    await send(page, "何か書いて")
    await expect(page.locator(LAST_REPLY)).to_have_attribute(
        "data-status", "complete", timeout=20_000
    )
    # Give any planted handler (onerror, onload, autofocus/onfocus) the chance to fire.
    await page.wait_for_timeout(500)
    assert await page.evaluate(FIND_DANGER) == []
    assert await page.locator("#message-list script").count() == 0
    assert await page.locator('#message-list a[href^="javascript:" i]').count() == 0
    text = await page.locator(LAST_REPLY).inner_text()
    assert "<script>alert(1)</script>" in text  # shown as text, not run
    browsing.watch.assert_clean()

    # The same reply rendered by the server on a fresh page load.
    await page.reload()
    await expect(page.locator(LAST_REPLY)).to_have_attribute("data-status", "complete")
    await page.wait_for_timeout(500)
    assert await page.evaluate(FIND_DANGER) == []
    assert await page.locator("#message-list script").count() == 0
    browsing.watch.assert_clean()
