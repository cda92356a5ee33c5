"""Login lock-out (django-axes) per username and per IP, and the sign-up rate limit."""

import json
import logging

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils.module_loading import import_string

from accounts.services import api_token_create

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-123"  # tests.factories.UserFactory's
LOCKED_JA = "ログインの失敗が多すぎます"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3


def log_in(client: Client, username: str, password: str, ip: str = "192.0.2.1", **extra):
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip, **extra
    )


def test_a_username_is_locked_after_n_failures_from_anywhere(client, user, caplog):
    caplog.set_level(logging.INFO)
    statuses = [log_in(client, "alice", "wrong", ip=f"203.0.113.{n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]  # the failure that reaches the limit is refused

    # The right password, from an IP that never failed: still refused while locked.
    locked = log_in(client, "alice", PASSWORD, ip="198.51.100.9")

    assert locked.status_code == 429
    body = locked.content.decode()
    assert LOCKED_JA in body and "15 分後にもう一度お試しください" in body
    assert locked["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session
    axes_lines = [r for r in caplog.records if r.name.startswith("axes") and "Locking" in r.msg]
    assert axes_lines and all(r.levelno == logging.WARNING for r in axes_lines)
    ours = [r for r in caplog.records if r.getMessage() == "login_locked_out"]
    assert len(ours) == 2  # the locking failure and the refused right password
    # Through the project's JSON handler (neither logger has one of its own).
    json_config = django_settings.LOGGING["formatters"]["json"]
    formatter = import_string(json_config["()"])(
        json_config["fmt"], rename_fields=json_config["rename_fields"]
    )
    line = json.loads(formatter.format(ours[-1]))
    assert line["level"] == "WARNING" and line["logger"] == "kaiwa.accounts"
    assert line["ip_address"] == "198.51.100.9" and line["path"] == "/accounts/login/"
    assert PASSWORD not in caplog.text and "alice" not in caplog.text


def test_an_ip_is_locked_after_n_failures_against_any_usernames(client, user):
    statuses = [log_in(client, n, "guess", ip="203.0.113.50").status_code for n in ("b", "c", "d")]
    assert statuses == [200, 200, 429]

    locked = log_in(client, "alice", PASSWORD, ip="203.0.113.50", HTTP_ACCEPT_LANGUAGE="en")
    elsewhere = log_in(Client(), "alice", PASSWORD, ip="198.51.100.2")

    assert locked.status_code == 429
    assert "Too many failed log-ins" in locked.content.decode()
    assert elsewhere.status_code == 302  # alice herself is not locked


def test_correct_logins_never_lock_out(user):
    for _ in range(6):
        client = Client()
        response = log_in(client, "alice", PASSWORD)
        assert response.status_code == 302
        client.post("/accounts/logout/")


def test_failures_below_the_limit_still_let_the_right_password_in(client, user):
    for _ in range(2):
        log_in(client, "alice", "wrong")

    assert log_in(client, "alice", PASSWORD).status_code == 302


def test_the_admin_login_is_locked_out_too(client, user):
    for _ in range(3):
        client.post("/admin/login/", {"username": "alice", "password": "wrong"})

    response = client.post("/admin/login/", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 429


def test_a_locked_out_user_keeps_api_token_and_session_access(user):
    session = Client()
    session.force_login(user)
    _, token = api_token_create(user=user, name="cli")
    for _ in range(3):
        log_in(Client(), "alice", "wrong")
    assert log_in(Client(), "alice", PASSWORD).status_code == 429

    bearer = Client().get("/api/conversations/", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert bearer.status_code == 200
    assert session.get("/").status_code == 200


def test_signup_is_throttled_per_ip(client, settings):
    settings.SIGNUP_MODE = "open"
    settings.THROTTLE_SIGNUP = "2/hour"

    def sign_up(username: str, ip: str):
        return Client().post(
            "/accounts/signup/",
            {
                "username": username,
                "email": f"{username}@example.com",
                "password1": "s3cret-pass-phrase",
                "password2": "s3cret-pass-phrase",
            },
            REMOTE_ADDR=ip,
        )

    statuses = [sign_up(name, "203.0.113.9").status_code for name in ("u1", "u2", "u3")]
    throttled = sign_up("u4", "203.0.113.9")

    assert statuses == [302, 302, 429]
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) > 0
    assert "試行回数が多すぎます" in throttled.content.decode()
    users = get_user_model().objects.values_list("username", flat=True)
    assert sorted(users) == ["u1", "u2"]
    assert sign_up("u5", "198.51.100.3").status_code == 302  # another IP is not limited
