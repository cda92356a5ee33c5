"""The chat page's actions as the server renders them: labels, the Markdown to copy, exports."""

import re
from html.parser import HTMLParser

import pytest

from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

REPLY = '答えは **42** です。\n\n```python\nprint("hi")\n```'


class _Elements(HTMLParser):
    """The attributes of every element, in document order (templates' contents included)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def _elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(html)
    return parser.elements


def _actions(html: str) -> list[tuple[str, str | None, str | None]]:
    """(message role, action, aria-label) of every action button of a message with an id."""
    found, role = [], None
    for tag, attrs in _elements(html):
        if tag == "li" and "data-role" in attrs:
            role = attrs["data-role"] if attrs.get("data-message-id") else None
        elif tag == "button" and role and "data-action" in attrs:
            found.append((role, attrs["data-action"], attrs.get("aria-label")))
    return found


@pytest.fixture
def conversation(user):
    conversation = ConversationFactory(owner=user, title="操作")
    MessageFactory(conversation=conversation, role="user", content="質問 <b>です</b>")
    MessageFactory(conversation=conversation, role="assistant", content=REPLY)
    return conversation


@pytest.fixture
def logged_in(client, user):
    client.force_login(user)
    return client


def test_each_message_has_its_actions_labelled_in_japanese_and_english(logged_in, conversation):
    for language, labels in {
        "ja": ("メッセージをコピー", "メッセージを編集", "返信を再生成"),
        "en": ("Copy the message", "Edit the message", "Regenerate the reply"),
    }.items():
        html = logged_in.get(f"/c/{conversation.id}/", HTTP_ACCEPT_LANGUAGE=language)
        actions = [a for a in _actions(html.content.decode()) if not a[1].endswith("-version")]
        copy, edit, regenerate = labels
        assert [a for a in actions if a[1] != "retry"] == [
            ("user", "copy", copy),
            ("user", "edit", edit),
            ("assistant", "copy", copy),
            ("assistant", "regenerate", regenerate),
        ], language


def test_a_reply_carries_its_markdown_for_copy(logged_in, conversation):
    for url in (f"/c/{conversation.id}/", f"/c/{conversation.id}/messages/"):
        elements = _elements(logged_in.get(url).content.decode())
        replies = [
            attrs
            for tag, attrs in elements
            if tag == "li" and attrs.get("data-role") == "assistant" and attrs["data-message-id"]
        ]
        assert [attrs["data-markdown"] for attrs in replies] == [REPLY], url


def test_export_and_clear_are_offered_for_an_existing_conversation_only(logged_in, conversation):
    html = logged_in.get(f"/c/{conversation.id}/").content.decode()
    attrs = {a.get("id"): a for _, a in _elements(html) if a.get("id")}
    base = f"/api/conversations/{conversation.id}/export/"
    assert attrs["export-markdown"]["href"] == f"{base}?format=md"
    assert attrs["export-json"]["href"] == f"{base}?format=json"
    assert "download" in attrs["export-markdown"] and "download" in attrs["export-json"]
    assert "hidden" not in attrs["conversation-tools"]
    assert "clear-conversation" in attrs

    new = {a.get("id"): a for _, a in _elements(logged_in.get("/").content.decode()) if a.get("id")}
    assert "hidden" in new["conversation-tools"]
    assert "href" not in new["export-markdown"]


def _versions(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """(role, switcher attributes) of every message with an id, and each arrow's attributes."""
    found, role = [], None
    for tag, attrs in _elements(html):
        if tag == "li" and "data-role" in attrs:
            role = attrs["data-role"] if attrs.get("data-message-id") else None
        elif role and "data-versions" in attrs:
            found.append((role, attrs))
        elif role and tag == "button" and attrs.get("data-action", "").endswith("-version"):
            found.append((role, attrs))
    return found


def test_a_message_with_versions_shows_the_switcher_on_the_active_one(logged_in, user):
    conversation = ConversationFactory(owner=user)
    question = MessageFactory(conversation=conversation, role="user", content="質問")
    MessageFactory(conversation=conversation, role="assistant", content="一つ目", parent=question)
    MessageFactory(conversation=conversation, role="assistant", content="二つ目", parent=question)
    html = logged_in.get(f"/c/{conversation.id}/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert "二つ目" in html and "一つ目" not in html  # the active path only

    found = _versions(html)
    switchers = [(role, "hidden" in attrs) for role, attrs in found if "data-versions" in attrs]
    assert switchers == [("user", True), ("assistant", False)]
    arrows = {
        attrs["data-action"]: attrs
        for role, attrs in found
        if role == "assistant" and "data-action" in attrs
    }
    assert arrows["previous-version"]["aria-label"] == "前のバージョン"
    assert "disabled" not in arrows["previous-version"]
    assert arrows["next-version"]["aria-label"] == "次のバージョン"
    assert "disabled" in arrows["next-version"]
    assert re.search(r"data-version-label>\s*2 / 2\s*<", html)
