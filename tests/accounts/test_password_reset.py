"""Password reset by e-mail (Django's views, our templates), throttled per IP and address."""

import re

import pytest
from django.core import mail
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RESET_LINK = re.compile(r"http://testserver(/accounts/reset/[\w-]+/[\w-]+/)")


@pytest.fixture
def hanako(db):
    return UserFactory(username="hanako", email="hanako@example.com")


def test_the_login_page_links_to_the_reset_page(client):
    page = client.get("/accounts/login/").content.decode()

    assert 'href="/accounts/password-reset/"' in page
    assert "パスワードをお忘れですか？" in page
    assert client.get("/accounts/password-reset/").status_code == 200


def test_a_reset_mail_has_a_link_that_changes_the_password(client, hanako):
    response = client.post("/accounts/password-reset/", {"email": "Hanako@Example.com"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password-reset/sent/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["hanako@example.com"]
    assert message.subject == "Kaiwa: パスワードの再設定"
    assert "hanako" in message.body
    path = RESET_LINK.search(message.body).group(1)

    form_page = client.get(path, follow=True)  # Django swaps the token for a session key
    assert form_page.status_code == 200
    assert 'id="password-reset-confirm-form"' in form_page.content.decode()
    set_password_url = form_page.redirect_chain[-1][0]
    done = client.post(
        set_password_url,
        {"new_password1": "a-brand-new-phrase-42", "new_password2": "a-brand-new-phrase-42"},
    )
    assert done.status_code == 302
    assert done["Location"] == "/accounts/reset/done/"

    hanako.refresh_from_db()
    assert hanako.check_password("a-brand-new-phrase-42")
    fresh = Client()
    login = fresh.post(
        "/accounts/login/", {"username": "hanako", "password": "a-brand-new-phrase-42"}
    )
    assert login.status_code == 302 and fresh.get("/").status_code == 200
    # The link works once.
    again = client.get(path, follow=True)
    assert "このリンクは使えません" in again.content.decode()


def test_an_unknown_address_sends_nothing_and_says_the_same(client, hanako):
    response = client.post("/accounts/password-reset/", {"email": "nobody@example.com"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/password-reset/sent/"
    assert mail.outbox == []


def test_reset_requests_are_throttled_per_address(client, hanako, settings):
    settings.THROTTLE_PASSWORD_RESET_EMAIL = "2/hour"
    statuses = [
        client.post(
            "/accounts/password-reset/",
            {"email": "hanako@example.com"},
            REMOTE_ADDR=f"203.0.113.{n}",  # a new IP each time: the address is what counts
        ).status_code
        for n in range(3)
    ]

    assert statuses == [302, 302, 429]
    assert len(mail.outbox) == 2


def test_reset_requests_are_throttled_per_ip(client, hanako, settings):
    settings.THROTTLE_PASSWORD_RESET = "2/hour"
    responses = [
        client.post(
            "/accounts/password-reset/",
            {"email": email},
            REMOTE_ADDR="203.0.113.7",
            HTTP_ACCEPT_LANGUAGE="en",
        )
        for email in ("a@example.com", "b@example.com", "hanako@example.com")
    ]

    assert [r.status_code for r in responses] == [302, 302, 429]
    throttled = responses[-1]
    assert int(throttled["Retry-After"]) > 0
    assert "Too many attempts" in throttled.content.decode()
    assert mail.outbox == []  # the third request, for a real account, was never handled
    other_ip = client.post(
        "/accounts/password-reset/", {"email": "hanako@example.com"}, REMOTE_ADDR="198.51.100.1"
    )
    assert other_ip.status_code == 302 and len(mail.outbox) == 1
