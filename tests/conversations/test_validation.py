"""One set of rules for messages, system prompts, titles and model parameters: the services
refuse what the serializers refuse, so every interface (REST, SSE, WebSocket) agrees."""

import pytest

from conversations.errors import InvalidInput
from conversations.models import Conversation
from conversations.services import conversation_create, conversation_update, note_create
from conversations.validation import validate_message_text
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def small_limits(settings):
    settings.KAIWA = {**settings.KAIWA, "MAX_MESSAGE_CHARS": 10, "MAX_SYSTEM_PROMPT_CHARS": 5}
    settings.LLM_MAX_TOKENS_CAP = 100


@pytest.mark.parametrize(
    ("content", "detail"),
    [
        (12, "must be text"),
        ("  \n", "empty"),
        ("x" * 11, "longer than 10"),
        ("途中\udfffまで", "surrogate"),
        ("a\x00", "NUL"),
    ],
)
def test_a_message_breaking_a_rule_is_invalid_input(small_limits, content, detail):
    with pytest.raises(InvalidInput, match=detail) as raised:
        validate_message_text(content)
    assert raised.value.code == "invalid"


@pytest.mark.parametrize(
    "changes",
    [
        {"system_prompt": "長すぎる指示です"},
        {"title": "t" * 201},
        {"system_prompt": "指\x00"},
        {"title": "題\x00"},
        {"max_tokens": 101},
        {"max_tokens": 0},
        {"temperature": 2.5},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_the_services_refuse_what_the_api_refuses(small_limits, user, api_client, changes):
    conversation = ConversationFactory(owner=user, title="元の題")

    with pytest.raises(InvalidInput):
        conversation_update(conversation=conversation, **changes)
    with pytest.raises(InvalidInput):
        conversation_create(owner=user, **changes)
    response = api_client.patch(f"/api/conversations/{conversation.id}/", changes, format="json")

    assert response.status_code == 400 and set(changes) <= set(response.json())
    conversation.refresh_from_db()
    assert conversation.title == "元の題"
    assert Conversation.objects.filter(owner=user).count() == 1


def test_the_operators_default_system_prompt_is_not_held_to_the_limit(small_limits, user):
    conversation = conversation_create(owner=user)

    assert len(conversation.system_prompt) > 5


def test_a_note_title_past_the_limit_is_refused(user):
    with pytest.raises(InvalidInput, match="title"):
        note_create(owner=user, title="t" * 201, content="本文")


def test_the_chat_api_and_the_websocket_path_share_the_message_rules(
    small_limits, api_client, user, llm_upstream
):
    from assistant.turns import turn_start

    response = api_client.post("/api/chat/", {"message": "x" * 11}, format="json")
    assert response.json()["message"] == ["Ensure this field has no more than 10 characters."]
    blank = api_client.post("/api/chat/", {"message": "   "}, format="json")
    assert blank.json()["message"] == ["This field may not be blank."]
    # The WebSocket consumer starts turns with turn_start, which applies the same rule.
    with pytest.raises(InvalidInput, match="longer than 10"):
        turn_start(user=user, content="x" * 11)
    assert llm_upstream.chat_requests() == []


def test_rest_refuses_a_nul_character_in_a_message(user, api_client):
    conversation = ConversationFactory(owner=user)

    response = api_client.post(
        f"/api/conversations/{conversation.id}/messages/", {"content": "a\x00"}, format="json"
    )

    assert response.status_code == 400 and "content" in response.json()
    assert not conversation.messages.exists()
