"""A title the model writes after the first reply reaches the page and the other tabs."""

import pytest
import pytest_asyncio
from playwright.async_api import expect

from tests.browser.conftest import close_browsing, db, open_browsing
from tests.browser.helpers import send, wait_for_reply_text
from tests.factories import ConversationFactory, UserFactory
from tests.fakes.openai_server import reply

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]


@pytest.fixture
def titling_server(spawn_kaiwa):
    """A server of its own: the session's server runs with LLM_AUTO_TITLE off."""
    return spawn_kaiwa("browser-titles", LLM_AUTO_TITLE="true")


@pytest_asyncio.fixture(loop_scope="session")
async def titling_browsing(browser, titling_server, request):
    browsing = await open_browsing(browser, titling_server)
    yield browsing
    await close_browsing(browsing, request)


async def test_the_title_reaches_the_heading_and_another_tabs_sidebar(titling_browsing, upstream):
    user = await db(UserFactory, username="taro")
    elsewhere = await db(ConversationFactory, owner=user, title="別の会話")
    untitled = await db(ConversationFactory, owner=user, title="")
    upstream.enqueue(reply("晴れのち曇りです。"), reply("明日の天気"))
    await titling_browsing.login_as(user)
    other_tab = titling_browsing.page
    await other_tab.goto(f"/c/{elsewhere.id}/")
    await other_tab.wait_for_selector('#chat-app[data-ready="true"]', state="attached")
    listed = other_tab.locator(f'#conversation-list [data-conversation-id="{untitled.id}"] a')
    await expect(listed).to_have_text("新しい会話")
    tab = await titling_browsing.context.new_page()
    await tab.goto(f"/c/{untitled.id}/")

    await send(tab, "明日の天気は？")
    await wait_for_reply_text(tab, "晴れのち曇り", status="complete")

    # The first words first, then the model's title, in the conversation's own tab…
    await expect(tab.locator("#chat-title")).to_have_text("明日の天気")
    # …and, without a reload, in the sidebar of a tab on another conversation.
    await expect(listed).to_have_text("明日の天気")
    titling_browsing.watch.assert_clean()
