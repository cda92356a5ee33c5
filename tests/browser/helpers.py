"""Small helpers shared by the browser tests."""

from playwright.async_api import expect

from tests.fakes.openai_server import reply

LAST_REPLY = "#message-list .message--assistant >> nth=-1"
USERS = "#message-list .message--user"
REPLIES = "#message-list .message--assistant"


def slow_reply(text: str, *, size: int = 4, interval: float = 0.05):
    """A streamed reply of `text` in chunks of `size` characters, `interval` seconds apart."""
    chunks = [text[i : i + size] for i in range(0, len(text), size)]
    return reply(text, chunks=chunks, interval=interval)


def numbered(prefix: str, count: int) -> str:
    """'語00 語01 …': text whose every piece is distinct, so gaps and repeats show."""
    return "".join(f"{prefix}{i:02d} " for i in range(count))


async def send(page, text: str) -> None:
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    await page.fill("#composer-input", text)
    await page.press("#composer-input", "Enter")


async def wait_for_reply_text(page, fragment: str, *, status: str | None = None) -> None:
    """Wait until the newest reply's text contains `fragment` (and has `status`, if given)."""
    await page.wait_for_function(
        """([fragment, status]) => {
            const replies = document.querySelectorAll('#message-list .message--assistant');
            const last = replies[replies.length - 1];
            if (!last) return false;
            if (status && last.dataset.status !== status) return false;
            return last.querySelector('[data-body]').textContent.includes(fragment);
        }""",
        arg=[fragment, status],
    )


async def reply_text(page) -> str:
    return (await page.locator(LAST_REPLY).locator("[data-body]").inner_text()).strip()


async def open_conversation(browsing, user, conversation, page=None):
    """Sign `user` in and open `conversation`'s chat page (in `page`, or the first tab)."""
    await browsing.login_as(user)
    page = page or browsing.page
    await page.goto(f"/c/{conversation.id}/")
    await page.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    return page


async def expect_complete(page, text: str) -> None:
    """The newest reply is complete and reads `text`."""
    reply_row = page.locator(LAST_REPLY)
    await expect(reply_row).to_have_attribute("data-status", "complete")
    await expect(reply_row.locator("[data-body]")).to_have_text(text)
