"""Server-rendered pages: login required, ownership, sanitised messages, CSP-ready HTML."""

import json
import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.services import api_token_create
from conversations.models import Message
from tests.conversations.xss_corpus import XSS_PAYLOADS, assert_inert
from tests.factories import ConversationFactory, MessageFactory, SavedNoteFactory
from tests.pages.html_checks import csp_problems, inner_html_of, scripts

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR) / "templates"


@pytest.fixture
def conversation(user):
    return ConversationFactory(owner=user, title="京都旅行")


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def _page_urls(conversation) -> list[str]:
    return [
        "/",
        f"/c/{conversation.id}/",
        f"/c/{conversation.id}/messages/",
        "/notes/",
        "/images/",
        "/usage/",
        "/accounts/tokens/",
    ]


def test_pages_require_login(client, conversation):
    for url in _page_urls(conversation):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_every_page_renders_for_its_owner(logged_in, conversation):
    for url in _page_urls(conversation):
        assert logged_in.get(url).status_code == 200, url


def test_another_users_conversation_is_404(client, other_user, conversation):
    client.force_login(other_user)
    assert client.get(f"/c/{conversation.id}/").status_code == 404
    assert client.get(f"/c/{conversation.id}/messages/").status_code == 404
    assert client.get(f"/c/{uuid.uuid4()}/").status_code == 404


def test_sidebar_lists_only_the_users_conversations(logged_in, conversation, other_user):
    ConversationFactory(owner=other_user, title="secret of mallory")
    html = logged_in.get("/").content.decode()
    assert "京都旅行" in html
    assert "secret of mallory" not in html


def test_chat_page_renders_markdown_and_keeps_script_inert(logged_in, conversation):
    MessageFactory(conversation=conversation, role="user", content="<b>raw user html</b>")
    MessageFactory(
        conversation=conversation,
        role="assistant",
        content="**太字** <script>alert('x')</script> [x](javascript:alert(1))\n\n"
        "```python\nprint('hi')\n```",
    )
    html = logged_in.get(f"/c/{conversation.id}/").content.decode()
    bodies = inner_html_of(html, "data-body")
    user_body, assistant_body = bodies[0], bodies[1]
    # The user's text is shown as text, the reply as sanitised Markdown with highlighting.
    assert user_body == "&lt;b&gt;raw user html&lt;/b&gt;"
    assert "<strong>太字</strong>" in assistant_body
    assert "&lt;script&gt;" in assistant_body  # shown as text, not run
    assert '<pre class="hl">' in assistant_body and "hl-nb" in assistant_body
    assert "href=" not in assistant_body  # the javascript: link was dropped
    assert_inert(assistant_body)
    assert csp_problems(html) == []


def test_every_xss_payload_renders_inert_on_the_page(logged_in, conversation):
    for payload in XSS_PAYLOADS:
        MessageFactory(conversation=conversation, role="assistant", content=payload)
        MessageFactory(conversation=conversation, role="user", content=payload)
    # The chat page also holds the two empty bubbles the page script clones.
    pages = {f"/c/{conversation.id}/": 2, f"/c/{conversation.id}/messages/": 0}
    for url, blanks in pages.items():
        html = logged_in.get(url).content.decode()
        bodies = inner_html_of(html, "data-body")
        assert len(bodies) == 2 * len(XSS_PAYLOADS) + blanks
        for body in bodies:
            assert_inert(body)
        assert csp_problems(html) == [], url


def test_message_states_and_tool_calls(logged_in, conversation):
    MessageFactory(conversation=conversation, role="user", content="メモして")
    MessageFactory(
        conversation=conversation,
        role="assistant",
        content="",
        tool_calls=[
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "save_note", "arguments": "{}"},
            }
        ],
    )
    MessageFactory(
        conversation=conversation,
        role="tool",
        tool_call_id="call_1",
        content='{"id": 7, "title": "買い物", "saved": true}',
    )
    MessageFactory(conversation=conversation, role="assistant", content="保存しました。")
    MessageFactory(
        conversation=conversation,
        role="assistant",
        content="途中",
        status=Message.Status.CANCELLED,
    )
    MessageFactory(
        conversation=conversation,
        role="assistant",
        content="",
        status=Message.Status.FAILED,
        error_code="upstream_timeout",
        error_text="Timed out",
    )
    html = logged_in.get(f"/c/{conversation.id}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert re.search(r"data-tool-name>save_note</code>", html)
    assert "id: 7, title: 買い物, saved: true" in html
    # Tool results are folded into the compact row, never shown as raw bubbles.
    assert '"saved": true' not in html
    assert "Stopped" in html
    assert "The model provider did not answer in time." in html
    assert html.count('data-action="retry"') >= 1


def test_running_reply_is_marked_for_the_page_script(logged_in, conversation):
    reply = MessageFactory(
        conversation=conversation, role="assistant", content="途中まで", status="streaming"
    )
    conversation.active_turn = reply
    conversation.save()
    html = logged_in.get(f"/c/{conversation.id}/").content.decode()
    assert 'data-busy="true"' in html
    assert f'data-message-id="{reply.id}" data-role="assistant" data-status="streaming"' in html


def test_demo_banner_only_with_the_demo_provider(client, logged_in, settings):
    settings.LLM_PROVIDER = "demo"
    for url in ("/", "/notes/", "/accounts/tokens/"):
        html = logged_in.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert 'id="demo-banner"' in html
        assert "no LLM is configured" in html and "OPENAI_API_KEY" in html
        assert "AZURE_OPENAI_ENDPOINT" in html
    ja = logged_in.get("/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "LLM が設定されていません" in ja
    settings.LLM_PROVIDER = "openai"
    assert 'id="demo-banner"' not in logged_in.get("/").content.decode()
    settings.LLM_PROVIDER = "azure"
    assert 'id="demo-banner"' not in logged_in.get("/").content.decode()


def test_demo_banner_on_the_login_page(client, settings):
    settings.LLM_PROVIDER = "demo"
    assert 'id="demo-banner"' in client.get("/accounts/login/").content.decode()


def test_language_follows_accept_language(logged_in):
    ja = logged_in.get("/", HTTP_ACCEPT_LANGUAGE="ja-JP,ja;q=0.9").content.decode()
    assert '<html lang="ja">' in ja
    assert ">送信</button>" in ja and "Enter で送信" in ja
    en = logged_in.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="en">' in en
    assert ">Send</button>" in en


def test_japanese_is_the_default_language(logged_in):
    html = logged_in.get("/", HTTP_ACCEPT_LANGUAGE="fr-FR").content.decode()
    assert '<html lang="ja">' in html


def test_language_switch_form(logged_in):
    html = logged_in.get("/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert 'action="/i18n/setlang/"' in html
    response = logged_in.post("/i18n/setlang/", {"language": "en", "next": "/notes/"})
    assert response.status_code == 302 and response["Location"] == "/notes/"
    html = logged_in.get("/notes/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert '<html lang="en">' in html


def _catalogue(html: str) -> dict:
    match = re.search(r'<script id="kaiwa-i18n" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page carries no script catalogue"
    return json.loads(match.group(1))


def test_script_catalogue_is_translated(logged_in):
    ja = _catalogue(logged_in.get("/", HTTP_ACCEPT_LANGUAGE="ja").content.decode())
    en = _catalogue(logged_in.get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode())
    assert ja.keys() == en.keys()
    assert ja["retry"] == "再試行" and en["retry"] == "Retry"
    assert ja["status.cancelled"] == "停止しました" and en["status.cancelled"] == "Stopped"
    assert ja["error.turn_in_progress"] == "この会話では別の応答を生成中です。"
    untranslated = [key for key in ja if ja[key] == en[key] and ja[key] not in ("Kaiwa",)]
    assert untranslated == []


def test_pages_are_csp_ready(client, logged_in, conversation, user):
    SavedNoteFactory(owner=user, title="<img src=x onerror=alert(1)>", content="<script>x</script>")
    api_token_create(user=user, name='" onmouseover="alert(1)')
    MessageFactory(conversation=conversation, role="assistant", content="<svg onload=alert(1)>")
    pages = [logged_in.get(url).content.decode() for url in _page_urls(conversation)]
    client.logout()
    pages += [client.get("/accounts/login/").content.decode()]
    pages += [client.get("/accounts/signup/").content.decode()]
    for html in pages:
        assert csp_problems(html) == []
        for script in scripts(html):
            if script.get("src"):
                assert script["src"].startswith("/static/"), script
                assert script.get("type") == "module"


def test_templates_have_no_inline_handlers_or_styles():
    for path in TEMPLATES.rglob("*.html"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"\son[a-z]+\s*=", source, re.IGNORECASE), path
        assert not re.search(r"\sstyle\s*=", source, re.IGNORECASE), path
        for tag in re.findall(r"<script\b[^>]*>", source):
            assert 'type="application/json"' in tag or "src=" in tag, (path, tag)


def test_notes_page_shows_own_notes_as_text(logged_in, user, other_user):
    SavedNoteFactory(owner=user, title="牛乳", content="<b>2本</b>")
    SavedNoteFactory(owner=other_user, title="mallory's note")
    html = logged_in.get("/notes/").content.decode()
    assert "牛乳" in html and "&lt;b&gt;2本&lt;/b&gt;" in html
    assert "mallory&#x27;s note" not in html and "mallory's note" not in html


def test_tokens_page_lists_prefixes_never_secrets(logged_in, user, other_user):
    token, plaintext = api_token_create(user=user, name="laptop")
    other, _ = api_token_create(user=other_user, name="mallory-token")
    html = logged_in.get("/accounts/tokens/").content.decode()
    assert "laptop" in html and token.token_key in html
    assert plaintext not in html and token.digest not in html
    assert "mallory-token" not in html and str(other.public_id) not in html
    assert f'data-token-id="{token.public_id}"' in html


def test_images_page_has_a_labelled_form(logged_in):
    html = logged_in.get("/images/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<label for="image-prompt">' in html and 'id="image-prompt"' in html
    for size in ("1024x1024", "1792x1024", "1024x1792"):
        assert f'<option value="{size}">' in html


def test_forms_have_labels(client, logged_in):
    html = logged_in.get("/").content.decode()
    for control in ("composer-input", "conversation-search-input", "language-select"):
        assert f'for="{control}"' in html, control
    client.logout()
    login = client.get("/accounts/login/").content.decode()
    assert 'for="id_username"' in login and 'for="id_password"' in login


def test_highlight_stylesheet_is_current():
    from conversations.management.commands.write_highlight_css import (
        HIGHLIGHT_CSS_PATH,
        highlight_stylesheet,
    )

    assert HIGHLIGHT_CSS_PATH.read_text(encoding="utf-8") == highlight_stylesheet(), (
        "Run `python manage.py write_highlight_css` and commit the result."
    )
