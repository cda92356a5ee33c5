import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    admin = UserFactory(username="staff", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def _changelist_queries(staff_client) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = staff_client.get("/admin/conversations/conversation/")
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_changelist_query_count_does_not_grow_with_rows(staff_client):
    owners = UserFactory.create_batch(5)
    for i in range(5):
        conversation = ConversationFactory(owner=owners[i % 5])
        MessageFactory(conversation=conversation, prompt_tokens=10, completion_tokens=5)
    small = _changelist_queries(staff_client)
    for i in range(95):
        ConversationFactory(owner=owners[i % 5])
    assert _changelist_queries(staff_client) == small


def test_changelist_shows_token_totals_and_searches_message_text(staff_client):
    conversation = ConversationFactory(title="富士山")
    MessageFactory(
        conversation=conversation,
        content="the word needle here",
        prompt_tokens=7,
        completion_tokens=4,
    )
    ConversationFactory(title="other")
    page = staff_client.get("/admin/conversations/conversation/", {"q": "needle"}).content.decode()
    assert "富士山" in page and "other" not in page
    assert ">11<" in page  # 7 prompt + 4 completion tokens


def test_change_page_shows_messages_read_only(staff_client):
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, content="inline content")
    page = staff_client.get(f"/admin/conversations/conversation/{conversation.id}/change/")
    assert page.status_code == 200
    assert "inline content" in page.content.decode()
    assert 'name="messages-0-content"' not in page.content.decode()


def test_token_admin_never_shows_the_token(staff_client, user):
    from accounts.services import api_token_create

    token, plaintext = api_token_create(user=user, name="ci")
    page = staff_client.get("/admin/accounts/apitoken/").content.decode()
    assert token.token_key in page
    assert plaintext not in page
    # The digest is the row's primary key (so it appears in links) but is no column or field.
    assert "column-digest" not in page
    detail = staff_client.get(f"/admin/accounts/apitoken/{token.pk}/change/").content.decode()
    assert plaintext not in detail and 'name="digest"' not in detail


def test_changelist_filters_by_source(staff_client):
    ConversationFactory(title="typed in the browser")
    ConversationFactory(title="sent by an OpenAI client", source="v1")
    response = staff_client.get("/admin/conversations/conversation/?source__exact=v1")
    assert response.status_code == 200
    listed = [str(c) for c in response.context["cl"].result_list]
    assert listed == ["sent by an OpenAI client"]
    assert "source__exact=v1" in response.text  # offered as a filter
