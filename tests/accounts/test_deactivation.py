"""Deactivating a user, anywhere (admin, shell, a service): their open sockets close with
4401 (accounts.revocation) and their stored sessions are deleted (accounts.deactivation),
so re-activating the account does not let the old browsers back in."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.test import Client

from accounts.deactivation import user_sessions_end
from accounts.models import SsoIdentity
from tests.factories import ConversationFactory, UserFactory
from tests.streaming_clients import in_process_socket


def logged_in_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sessions_of(user) -> list[str]:
    return [
        s.session_key
        for s in Session.objects.all()
        if str(s.get_decoded().get("_auth_user_id")) == str(user.pk)
    ]


@pytest.fixture
def sso_user(db):
    user = UserFactory(username="sso-person")
    SsoIdentity.objects.create(user=user, issuer="https://idp.example.com", subject="s-1")
    return user


@pytest.mark.django_db
def test_deactivation_deletes_the_users_sessions_only(sso_user, django_capture_on_commit_callbacks):
    browsers = [logged_in_client(sso_user) for _ in range(2)]
    bystander = logged_in_client(UserFactory(username="bystander"))
    assert len(sessions_of(sso_user)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        sso_user.is_active = False
        sso_user.save(update_fields=["is_active"])

    assert sessions_of(sso_user) == []
    assert bystander.get("/").status_code == 200
    # Re-activated: the old browsers stay signed out.
    sso_user.is_active = True
    sso_user.save()
    for browser in browsers:
        response = browser.get("/")
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_saves_that_do_not_deactivate_keep_the_sessions(
    sso_user, django_capture_on_commit_callbacks
):
    logged_in_client(sso_user)

    with django_capture_on_commit_callbacks(execute=True):
        sso_user.first_name = "花子"
        sso_user.save()  # a full save of an active user
        sso_user.is_active = False
        sso_user.save(update_fields=["first_name"])  # is_active not written

    assert len(sessions_of(sso_user)) == 1


@pytest.mark.django_db
def test_user_sessions_end_counts_what_it_deleted(sso_user):
    logged_in_client(sso_user)
    logged_in_client(sso_user)
    assert user_sessions_end(user_id=sso_user.pk) == 2
    assert user_sessions_end(user_id=sso_user.pk) == 0


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(30)
async def test_deactivation_outside_the_admin_closes_open_sockets():
    user = await sync_to_async(UserFactory)(username="leaver")
    conversation = await sync_to_async(ConversationFactory)(owner=user)
    communicator = in_process_socket(user, conversation.id)
    connected, _ = await communicator.connect()
    assert connected

    def deactivate():
        user.is_active = False
        user.save(update_fields=["is_active"])

    await sync_to_async(deactivate)()

    while True:
        output = await communicator.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            break
    assert output["code"] == 4401
    await communicator.wait()
