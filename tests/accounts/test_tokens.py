"""Personal API tokens: created from a session, shown once, stored hashed, revocable."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def _csrf(client: APIClient) -> str:
    client.get("/")  # a page with a form sets the csrftoken cookie
    return client.cookies["csrftoken"].value


def test_create_list_use_and_revoke(session_client, user):
    csrf = _csrf(session_client)
    created = session_client.post(
        "/api/tokens/", {"name": "laptop"}, format="json", HTTP_X_CSRFTOKEN=csrf
    )
    assert created.status_code == 201, created.content
    body = created.json()
    plaintext = body["token"]
    assert plaintext.startswith("kaiwa_") and len(plaintext) > 40

    listing = session_client.get("/api/tokens/").json()
    assert [t["name"] for t in listing] == ["laptop"]
    assert "token" not in listing[0]  # shown once, at creation only

    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert bearer.get("/api/conversations/").status_code == 200

    revoked = session_client.delete(f"/api/tokens/{body['id']}/", HTTP_X_CSRFTOKEN=csrf)
    assert revoked.status_code == 204
    after = bearer.get("/api/conversations/")
    assert after.status_code == 401 and after.json()["code"] == "not_authenticated"


def test_only_a_digest_is_stored(session_client):
    csrf = _csrf(session_client)
    plaintext = session_client.post(
        "/api/tokens/", {}, format="json", HTTP_X_CSRFTOKEN=csrf
    ).json()["token"]
    stored = ApiToken.objects.get()
    assert stored.digest != plaintext and len(stored.digest) == 128
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apitoken")
        rows = cursor.fetchall()
    assert all(plaintext not in str(value) for row in rows for value in row)


def test_session_post_without_csrf_is_refused(session_client):
    response = session_client.post("/api/tokens/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert not ApiToken.objects.exists()


def test_a_token_cannot_mint_or_list_tokens(api_client):
    # A leaked token must not be able to mint more tokens: token management is session-only.
    for response in (
        api_client.post("/api/tokens/", {}, format="json"),
        api_client.get("/api/tokens/"),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert ApiToken.objects.count() == 1


def test_another_users_token_cannot_be_revoked(session_client, other_user):
    from accounts.services import api_token_create

    theirs, _ = api_token_create(user=other_user)
    csrf = _csrf(session_client)
    response = session_client.delete(f"/api/tokens/{theirs.public_id}/", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 404
    assert ApiToken.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer kaiwa_wrong",
        "Token kaiwa_whatever",
        "Basic YWxpY2U6cGFzcw==",
        "Bearer a b",
    ],
)
def test_bad_or_alternate_credentials_grant_nothing(client, user, header):
    response = client.get("/api/conversations/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
