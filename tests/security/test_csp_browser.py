"""The Content-Security-Policy in a real browser: no page of ours, the admin's or the API
docs' trips it. Chromium reports every blocked script, style, image, frame or connection
as a `securitypolicyviolation` event; each page is loaded and any event fails the test.
"""

import re

import pytest
from asgiref.sync import sync_to_async

from tests.factories import ConversationFactory, MessageFactory, SavedNoteFactory, UserFactory
from tests.live_server import session_cookie

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'}`
                    + ` at ${e.sourceFile}:${e.lineNumber}`);
});
"""


async def _open(browser, live, cookie: str | None):
    context = await browser.new_context(base_url=live.url, locale="ja-JP")
    context.set_default_timeout(15_000)
    await context.add_init_script(RECORD_VIOLATIONS)
    if cookie:
        name, value = cookie.split("=", 1)
        await context.add_cookies([{"name": name, "value": value, "url": live.url}])
    return context


async def _visit(context, path: str, *, settle=None) -> tuple[list[str], list[str]]:
    """Load a page; return its CSP violations and CSP console errors."""
    page = await context.new_page()
    console: list[str] = []
    page.on(
        "console",
        lambda m: console.append(m.text) if "Content Security Policy" in m.text else None,
    )
    response = await page.goto(path, wait_until="networkidle")
    assert response is not None and response.status == 200, (path, response and response.status)
    assert "Content-Security-Policy" in {k.title(): v for k, v in response.headers.items()}
    if settle is not None:
        await settle(page)
    violations = await page.evaluate("window.__csp")
    await page.close()
    return violations, console


@pytest.fixture
def site(live):
    """An owner with a conversation, a note and a staff account (committed for the server)."""
    owner = UserFactory(username="csp-owner")
    conversation = ConversationFactory(owner=owner, title="CSP")
    MessageFactory(conversation=conversation, role="user", content="**こんにちは**")
    MessageFactory(
        conversation=conversation,
        role="assistant",
        content="```python\nprint('hi')\n```\n\n![img](/api/images/x/file/)",
    )
    SavedNoteFactory(owner=owner, conversation=conversation)
    staff = UserFactory(username="csp-staff", is_staff=True, is_superuser=True)
    return owner, conversation, staff


async def test_our_pages_and_the_api_docs_trip_no_csp(browser, live, site):
    owner, conversation, _ = site
    context = await _open(browser, live, None)
    problems = {}
    for path in ("/accounts/login/", "/accounts/signup/", "/api/docs/"):

        async def swagger_loaded(page, path=path):
            if path == "/api/docs/":
                await page.wait_for_selector(".swagger-ui .opblock", timeout=15_000)

        violations, console = await _visit(context, path, settle=swagger_loaded)
        if violations or console:
            problems[path] = violations + console
    await context.close()

    context = await _open(browser, live, await sync_to_async(session_cookie)(owner))
    sockets: list[str] = []
    context.on("page", lambda page: page.on("websocket", lambda ws: sockets.append(ws.url)))
    for path in (
        "/",
        f"/c/{conversation.id}/",
        "/notes/",
        "/images/",
        "/usage/",
        "/accounts/tokens/",
        "/api/docs/",
    ):
        violations, console = await _visit(context, path)
        if violations or console:
            problems[path] = violations + console
    await context.close()
    assert problems == {}
    # connect-src 'self' let the chat page open its WebSocket (ws: to the same host).
    assert any(re.search(rf"/ws/conversations/{conversation.id}/$", url) for url in sockets)


async def test_the_admin_works_under_the_csp(browser, live, site):
    owner, conversation, staff = site
    context = await _open(browser, live, await sync_to_async(session_cookie)(staff))
    paths = [
        "/admin/",
        "/admin/conversations/conversation/",
        f"/admin/conversations/conversation/{conversation.pk}/change/",
        f"/admin/conversations/conversation/{conversation.pk}/delete/",
        "/admin/conversations/message/",
        "/admin/conversations/savednote/",
        "/admin/accounts/apitoken/",
        "/admin/usage/usagerecord/",
        "/admin/usage/dailyusage/",
        "/admin/auth/user/",
        "/admin/auth/user/add/",
        f"/admin/auth/user/{owner.pk}/change/",
        f"/admin/auth/user/{owner.pk}/password/",
    ]
    problems = {}
    for path in paths:
        violations, console = await _visit(context, path)
        if violations or console:
            problems[path] = violations + console

    # And the admin's scripts really run: the changelist's filter toggle and a date filter.
    page = await context.new_page()
    await page.goto(f"/admin/auth/user/{owner.pk}/change/", wait_until="networkidle")
    # The quota inline's "add another" link is created by the admin's inlines.js.
    await page.wait_for_selector(".add-row a", timeout=15_000)
    violations = await page.evaluate("window.__csp")
    await page.close()
    await context.close()
    assert problems == {}
    assert violations == []
