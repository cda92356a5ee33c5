import pytest

from conversations.models import SavedNote
from tests.factories import ConversationFactory, SavedNoteFactory

pytestmark = pytest.mark.django_db


def test_note_crud(api_client, user):
    conversation = ConversationFactory(owner=user)
    created = api_client.post(
        "/api/notes/",
        {"title": "買い物", "content": "牛乳\n卵", "conversation": str(conversation.id)},
        format="json",
    )
    assert created.status_code == 201, created.content
    note = created.json()
    assert {"id", "title", "content", "conversation", "created_at", "updated_at"} == set(note)
    assert note["conversation"] == str(conversation.id)

    url = f"/api/notes/{note['id']}/"
    assert api_client.get(url).json()["content"] == "牛乳\n卵"
    assert api_client.patch(url, {"title": "食料品"}, format="json").json()["title"] == "食料品"
    assert [n["id"] for n in api_client.get("/api/notes/").json()["results"]] == [note["id"]]
    assert api_client.delete(url).status_code == 204
    assert not SavedNote.objects.exists()


def test_notes_are_private(api_client, other_user, user):
    theirs = SavedNoteFactory(owner=other_user, title="secret")
    SavedNoteFactory(owner=user, title="mine")
    assert [n["title"] for n in api_client.get("/api/notes/").json()["results"]] == ["mine"]
    url = f"/api/notes/{theirs.id}/"
    assert api_client.get(url).status_code == 404
    assert api_client.patch(url, {"title": "x"}, format="json").status_code == 404
    assert api_client.delete(url).status_code == 404
    theirs.refresh_from_db()
    assert theirs.title == "secret"


def test_note_cannot_point_at_another_users_conversation(api_client, other_user):
    theirs = ConversationFactory(owner=other_user)
    response = api_client.post(
        "/api/notes/", {"title": "t", "content": "c", "conversation": str(theirs.id)}, format="json"
    )
    assert response.status_code == 404
    assert not SavedNote.objects.exists()


def test_note_requires_title_and_content(api_client):
    response = api_client.post("/api/notes/", {"title": ""}, format="json")
    assert response.status_code == 400
    assert {"title", "content"} <= set(response.json())
