"""Who can reach what: every REST operation anonymously, as another user, and without CSRF.

The operations come from the OpenAPI schema (tests/security/endpoints.py), so a new
endpoint is tried here without anyone adding it by hand.
"""

import base64

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.security.endpoints import (
    PUBLIC_ROUTES,
    api_operations,
    api_routes,
    response_text,
    unlisted_api_routes,
)

OPERATIONS = api_operations()
OBJECT_OPERATIONS = [op for op in OPERATIONS if op.has_object]
COLLECTION_OPERATIONS = [op for op in OPERATIONS if not op.has_object]
UNSAFE_OPERATIONS = [op for op in OPERATIONS if op.unsafe]


def _call(client, operation, url, body=None, **extra):
    call = getattr(client, operation.method)
    if operation.method in ("get", "delete"):
        return call(url, **extra)
    return call(url, body or {}, format="json", **extra)


def _text(response) -> str:
    return response_text(response)


def assert_json_refusal(response, statuses, codes=None) -> None:
    assert response.status_code in statuses, (response.status_code, _text(response)[:300])
    content_type = response.headers.get("Content-Type", "")
    assert content_type.startswith("application/json"), content_type
    if codes is not None:
        assert response.json()["code"] in codes, response.json()


def test_every_api_route_is_described_by_the_schema():
    assert len(OPERATIONS) >= 20  # the enumeration itself works
    assert unlisted_api_routes() == set(), (
        "routes under /api/ missing from the OpenAPI schema escape the security suite"
    )
    assert PUBLIC_ROUTES <= api_routes()


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_anonymous_gets_401_or_404_json_never_data(operation, owned):
    before = owned.snapshot()
    response = _call(
        APIClient(),
        operation,
        owned.url(operation) if operation.has_object else operation.path,
        owned.body(operation),
    )
    assert_json_refusal(response, {401, 404}, {"not_authenticated", "not_found"})
    text = _text(response)
    assert all(marker not in text for marker in owned.markers())
    assert owned.snapshot() == before


@pytest.mark.parametrize("how", ["bearer", "session"])
@pytest.mark.parametrize("operation", OBJECT_OPERATIONS, ids=str)
def test_another_user_gets_404_and_the_object_is_unchanged(
    operation, how, owned, intruder_bearer, intruder_session
):
    client = intruder_bearer if how == "bearer" else intruder_session
    before = owned.snapshot()
    response = _call(client, operation, owned.url(operation), owned.body(operation))
    if operation.resource == "tokens" and how == "bearer":
        # Tokens are managed from a session only: a token gets 403 before any lookup.
        assert_json_refusal(response, {403})
    else:
        assert_json_refusal(response, {404}, {"not_found"})
    text = _text(response)
    assert all(marker not in text for marker in owned.markers())
    assert owned.snapshot() == before


@pytest.mark.django_db(transaction=True)  # turns run on other threads: commit the data
@pytest.mark.parametrize("operation", COLLECTION_OPERATIONS, ids=str)
def test_another_users_lists_and_creates_never_touch_the_owners_data(
    operation, owned, intruder_session
):
    """Lists show only one's own; bodies naming the owner's conversation are refused."""
    before = owned.snapshot()
    response = _call(intruder_session, operation, operation.path, owned.body(operation))
    assert response.status_code < 500, _text(response)[:300]
    text = _text(response)
    assert [m for m in owned.markers() if m in text] == [], text[:500]
    assert owned.snapshot() == before


def test_a_body_naming_another_users_conversation_is_404(owned, intruder_bearer):
    for path in ("/api/chat/", "/api/chat/stream/"):
        response = intruder_bearer.post(
            path, {"message": "hi", "conversation_id": str(owned.conversation.id)}, format="json"
        )
        assert_json_refusal(response, {404}, {"not_found"})
    response = intruder_bearer.post(
        "/api/notes/",
        {"title": "t", "content": "c", "conversation": str(owned.conversation.id)},
        format="json",
    )
    assert_json_refusal(response, {404}, {"not_found"})


@pytest.mark.parametrize("name", ["chat", "chat-messages"])
def test_pages_of_another_users_conversation_are_404(name, owned, intruder):
    from django.test import Client

    client = Client()
    client.force_login(intruder)
    response = client.get(reverse(name, kwargs={"conversation_id": owned.conversation.id}))
    assert response.status_code == 404
    assert "OWNER-PRIVATE" not in response.content.decode()


# --- CSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", UNSAFE_OPERATIONS, ids=str)
def test_session_writes_without_csrf_token_are_403(operation, owned):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owned.user)
    url = owned.url(operation) if operation.has_object else operation.path
    before = owned.snapshot()
    response = _call(client, operation, url, owned.body(operation))
    assert_json_refusal(response, {403})
    assert "CSRF" in response.json()["detail"]
    assert owned.snapshot() == before


def test_session_writes_with_the_csrf_token_work(owned):
    """The control: the same client with the token gets through (the 403s mean CSRF)."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owned.user)
    page = client.get("/notes/")
    token = page.cookies["csrftoken"].value
    response = client.post(
        "/api/notes/", {"title": "t", "content": "c"}, format="json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 201


# --- Authentication headers -------------------------------------------------------------


def _alternates(owned) -> dict[str, dict]:
    token = owned.plaintext_token
    basic = base64.b64encode(b"owner:pw-for-tests-123").decode()
    return {
        "Token scheme": {"HTTP_AUTHORIZATION": f"Token {token}"},
        "Basic with the password": {"HTTP_AUTHORIZATION": f"Basic {basic}"},
        "bare token": {"HTTP_AUTHORIZATION": token},
        "Bearer with trailing junk": {"HTTP_AUTHORIZATION": f"Bearer {token} extra"},
        "Bearer with the stored digest": {"HTTP_AUTHORIZATION": f"Bearer {owned.token.digest}"},
        "Bearer with the public prefix": {"HTTP_AUTHORIZATION": f"Bearer {owned.token.token_key}"},
        "Bearer with the public id": {"HTTP_AUTHORIZATION": f"Bearer {owned.token.public_id}"},
        "X-API-Key": {"HTTP_X_API_KEY": token},
        "X-Auth-Token": {"HTTP_X_AUTH_TOKEN": token},
        "cookie named token": {"HTTP_COOKIE": f"token={token}"},
        "cookie named sessionid": {"HTTP_COOKIE": f"sessionid={token}"},
    }


@pytest.mark.parametrize("query", ["token", "access_token", "auth_token", "api_key", "bearer"])
def test_a_token_in_the_query_string_grants_nothing(query, owned):
    response = APIClient().get(f"/api/conversations/?{query}={owned.plaintext_token}")
    assert_json_refusal(response, {401}, {"not_authenticated"})


def test_alternate_authentication_headers_grant_nothing(owned):
    for label, headers in _alternates(owned).items():
        response = APIClient().get("/api/conversations/", **headers)
        assert response.status_code == 401, label
        assert "OWNER-PRIVATE" not in response.content.decode(), label


def test_the_bearer_scheme_name_is_case_insensitive(owned):
    """RFC 9110 §11.1: auth schemes are case-insensitive, so `bearer` is accepted like `Bearer`.

    Only the scheme's spelling is relaxed; the token itself must match exactly.
    """
    ok = APIClient().get(
        "/api/conversations/", HTTP_AUTHORIZATION=f"bearer {owned.plaintext_token}"
    )
    assert ok.status_code == 200
    wrong_case_token = owned.plaintext_token.swapcase()
    refused = APIClient().get(
        "/api/conversations/", HTTP_AUTHORIZATION=f"Bearer {wrong_case_token}"
    )
    assert refused.status_code == 401


def test_a_revoked_token_grants_nothing(owned):
    owned.token.delete()
    response = APIClient().get(
        "/api/conversations/", HTTP_AUTHORIZATION=f"Bearer {owned.plaintext_token}"
    )
    assert_json_refusal(response, {401}, {"not_authenticated"})
