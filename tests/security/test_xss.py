"""The XSS corpus through every render path: Markdown, stream `done` html, pages, admin, exports.

Replies are model output, and a model can be prompt-injected into writing anything. Every
place that turns a stored or streamed reply (or a title, note or prompt) into something a
browser reads is fed the whole corpus of tests/conversations/xss_corpus.py.
"""

import uuid
from html.parser import HTMLParser

import aiohttp
import pytest
from asgiref.sync import sync_to_async
from django.test import Client
from django.urls import reverse

from accounts.services import api_token_create
from conversations.markdown import render_markdown
from conversations.models import Message, SavedNote
from tests.conversations.xss_corpus import XSS_PAYLOADS, assert_inert
from tests.factories import ConversationFactory, MessageFactory, SavedNoteFactory, UserFactory
from tests.fakes.openai_server import reply
from tests.live_server import session_cookie
from tests.pages.html_checks import csp_problems, inner_html_of
from tests.streaming_clients import WS, read_sse

ALL_PAYLOADS = "\n\n".join(XSS_PAYLOADS)
HTML_PAYLOADS = [p for p in XSS_PAYLOADS if "<" in p]


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_render_markdown_makes_every_payload_inert(payload):
    assert_inert(render_markdown(payload))


def test_render_markdown_makes_the_whole_corpus_at_once_inert():
    # Together, payloads can interact (reference definitions, unclosed tags).
    assert_inert(render_markdown(ALL_PAYLOADS))


# --- The `done` event of a live turn (WebSocket and SSE) ---------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(90)
async def test_the_done_event_html_of_a_hostile_reply_is_inert(live, upstream):
    owner = await sync_to_async(UserFactory)(username="xss-owner")
    conversation = await sync_to_async(ConversationFactory)(owner=owner, title="xss")
    cookie = await sync_to_async(session_cookie)(owner)

    upstream.enqueue(reply(ALL_PAYLOADS))
    ws = await WS.connect(live, conversation.id, cookie)
    try:
        await ws.send({"type": "send", "content": "hi", "client_id": str(uuid.uuid4())})
        done = await ws.until("done", timeout=30)
    finally:
        await ws.close()
    assert done["content"] == ALL_PAYLOADS  # the text is kept as the model wrote it...
    assert_inert(done["html"])  # ...and only ever shown sanitised

    _, token = await sync_to_async(api_token_create)(user=owner, name="xss")
    upstream.enqueue(reply(ALL_PAYLOADS))
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        url = f"{live.url}/api/conversations/{conversation.id}/messages/stream/"
        async with session.post(url, json={"content": "again"}) as response:
            events = await read_sse(response)
    sse_done = events[-1][1]
    assert sse_done["type"] == "done"
    assert_inert(sse_done["html"])

    # The stored reply, as the chat page renders it after a reload.
    client = Client()
    client.cookies["sessionid"] = cookie.split("=", 1)[1]
    page = await sync_to_async(client.get)(f"/c/{conversation.id}/")
    bodies = inner_html_of(page.content.decode(), "data-body")
    assert len(bodies) >= 4
    for body in bodies:
        assert_inert(body)


# --- Server-rendered pages ---------------------------------------------------------------


@pytest.fixture
def hostile(db):
    """A user whose every text field holds the corpus."""
    owner = UserFactory(username="xss-pages")
    conversation = ConversationFactory(owner=owner, title=XSS_PAYLOADS[0])
    for payload in XSS_PAYLOADS:
        MessageFactory(conversation=conversation, role="user", content=payload)
        MessageFactory(conversation=conversation, role="assistant", content=payload)
    failed = MessageFactory(
        conversation=conversation,
        role="assistant",
        status=Message.Status.FAILED,
        content=ALL_PAYLOADS,
        error_code="upstream_error",
        error_text="<img src=x onerror=alert(1)>",
    )
    for i, payload in enumerate(XSS_PAYLOADS[:20]):
        ConversationFactory(owner=owner, title=payload, system_prompt=f"{i}")
        SavedNoteFactory(owner=owner, title=payload, content=payload, conversation=conversation)
    return owner, conversation, failed


def test_chat_pages_render_the_corpus_inert(hostile):
    owner, conversation, _ = hostile
    client = Client()
    client.force_login(owner)
    for url in (f"/c/{conversation.id}/", f"/c/{conversation.id}/messages/", "/", "/notes/"):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert csp_problems(html) == [], url  # no handler, inline script or style got in
        for body in inner_html_of(html, "data-body"):
            assert_inert(body)
        for payload in HTML_PAYLOADS:
            # Titles, user messages and notes are text: never emitted as markup.
            if payload in html:
                assert payload in render_markdown(payload), (url, payload)


class _ScriptsAndHandlers(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        for name, _ in attrs:
            if name.startswith("on"):
                self.found.append(f"{name}= on <{tag}>")
        if tag == "script":
            src = names.get("src") or ""
            if not (
                src.startswith(("/static/", "/admin/jsi18n/"))
                or names.get("type") in ("application/json",)
            ):
                self.found.append(f"<script {names}>")
        if tag in ("iframe", "object", "embed", "base"):  # (the admin draws its own <svg> icons)
            self.found.append(f"<{tag}>")
        href = (names.get("href") or names.get("src") or "").strip().lower()
        if href.startswith(("javascript:", "data:text", "vbscript:")):
            self.found.append(f"{tag} → {href[:40]}")

    handle_startendtag = handle_starttag


def test_admin_pages_escape_the_corpus(hostile):
    owner, conversation, failed = hostile
    staff = Client()
    staff.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    message = Message.objects.filter(conversation=conversation, role="assistant").first()
    note = SavedNote.objects.filter(owner=owner).first()
    urls = [
        reverse("admin:conversations_conversation_changelist"),
        reverse("admin:conversations_conversation_changelist") + "?q=script",
        reverse("admin:conversations_conversation_change", args=[conversation.pk]),
        reverse("admin:conversations_message_changelist"),
        reverse("admin:conversations_message_change", args=[message.pk]),
        reverse("admin:conversations_message_change", args=[failed.pk]),
        reverse("admin:conversations_savednote_changelist"),
        reverse("admin:conversations_savednote_change", args=[note.pk]),
    ]
    for url in urls:
        response = staff.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        parser = _ScriptsAndHandlers()
        parser.feed(html)
        assert parser.found == [], (url, parser.found)
        for payload in HTML_PAYLOADS:
            assert payload not in html, (url, payload)


# --- Exports are downloads, not pages ----------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "content_type"), [("md", "text/markdown"), ("json", "application/json")]
)
def test_exports_are_attachments_that_browsers_do_not_sniff(hostile, fmt, content_type):
    owner, conversation, _ = hostile
    client = Client()
    client.force_login(owner)
    response = client.get(f"/api/conversations/{conversation.id}/export/?format={fmt}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith(content_type)
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "text/html" not in response["Content-Type"]
    if fmt == "md":
        # The reply's own text, verbatim: it is a Markdown file for the user, never HTML.
        assert XSS_PAYLOADS[0] in response.content.decode()
