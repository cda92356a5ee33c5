"""SIGNUP_MODE: open, invite (single-use, expiring staff-made links) and closed."""

import os
import re
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import checks
from django.db import connection
from django.test import Client
from django.utils import timezone

from accounts import invites
from accounts.models import Invite
from tests.factories import UserFactory, invite_with_token

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
User = get_user_model()


def signup_data(username: str) -> dict[str, str]:
    return {
        "username": username,
        "email": f"{username}@example.com",
        "password1": "s3cret-pass-phrase",
        "password2": "s3cret-pass-phrase",
    }


@pytest.fixture
def staff(db):
    return UserFactory(username="staff", is_staff=True, is_superuser=True)


# --- open ------------------------------------------------------------------------------


def test_open_signup_works_and_the_login_page_links_to_it(client, settings):
    settings.SIGNUP_MODE = "open"

    assert 'href="/accounts/signup/"' in client.get("/accounts/login/").content.decode()
    assert client.get("/accounts/signup/").status_code == 200
    response = client.post("/accounts/signup/", signup_data("hanako"))

    assert response.status_code == 302
    assert User.objects.get(username="hanako").email == "hanako@example.com"


def test_signup_refuses_an_email_address_already_in_use(client, settings):
    settings.SIGNUP_MODE = "open"
    UserFactory(username="first", email="Shared@Example.com")

    response = client.post(
        "/accounts/signup/", signup_data("second") | {"email": "shared@example.com"}
    )

    assert response.status_code == 200
    assert not User.objects.filter(username="second").exists()


# --- closed ----------------------------------------------------------------------------


def test_closed_has_no_signup_page_endpoint_or_link(client, settings):
    settings.SIGNUP_MODE = "closed"

    assert client.get("/accounts/signup/").status_code == 404
    assert client.post("/accounts/signup/", signup_data("hanako")).status_code == 404
    assert not User.objects.filter(username="hanako").exists()
    login_page = client.get("/accounts/login/").content.decode()
    assert "/accounts/signup/" not in login_page
    assert 'href="/accounts/password-reset/"' in login_page  # the page itself still works


def test_an_unknown_mode_counts_as_closed(client, settings):
    settings.SIGNUP_MODE = "sometimes"

    assert client.post("/accounts/signup/", signup_data("hanako")).status_code == 404


# --- invite ----------------------------------------------------------------------------


def test_invite_mode_without_an_invitation_is_a_404_and_unlinked(client, settings):
    settings.SIGNUP_MODE = "invite"

    assert client.get("/accounts/signup/").status_code == 404
    assert client.post("/accounts/signup/", signup_data("hanako")).status_code == 404
    assert "/accounts/signup/" not in client.get("/accounts/login/").content.decode()
    assert not User.objects.filter(username="hanako").exists()


def test_staff_make_an_invitation_in_the_admin_and_it_signs_up_once(client, settings, staff):
    settings.SIGNUP_MODE = "invite"
    admin = Client()
    admin.force_login(staff)
    expires = timezone.localtime() + timedelta(days=2)

    saved = admin.post(
        "/admin/accounts/invite/add/",
        {
            "note": "for Hanako",
            "expires_at_0": expires.strftime("%Y-%m-%d"),
            "expires_at_1": expires.strftime("%H:%M:%S"),
        },
    )
    assert saved.status_code == 302
    response = admin.get(saved.url)

    assert response.status_code == 200
    invite = Invite.objects.get()
    assert invite.created_by == staff and invite.note == "for Hanako"
    link = re.search(
        r"http://testserver/accounts/signup/\?invite=([\w-]+)", response.content.decode()
    )
    assert link, "the admin shows the link once, after creating it"
    token = link.group(1)
    assert token not in invite.token_digest  # only the digest is stored
    # The one-time message (the link) travels in the session, never in a cookie of its own
    # (the messages cookie is signed, not encrypted).
    assert "messages" not in saved.cookies
    # The link is not shown again, and the stored digest never is.
    change_page = admin.get(f"/admin/accounts/invite/{invite.pk}/change/").content.decode()
    assert token not in change_page and invite.token_digest not in change_page

    assert client.get(f"/accounts/signup/?invite={token}").status_code == 200
    response = client.post(f"/accounts/signup/?invite={token}", signup_data("hanako"))
    assert response.status_code == 302
    invite.refresh_from_db()
    assert invite.used_by == User.objects.get(username="hanako") and invite.used_at

    # Single use: a second sign-up with the same link is refused with a clear page.
    second = Client()
    refused = second.post(f"/accounts/signup/?invite={token}", signup_data("taro"))
    assert refused.status_code == 410
    assert "この招待はすでに使用されています" in refused.content.decode()
    assert not User.objects.filter(username="taro").exists()


def test_an_expired_invitation_is_refused(client, settings, staff):
    settings.SIGNUP_MODE = "invite"
    _, token = invite_with_token(created_by=staff, expires_at=timezone.now() - timedelta(seconds=1))

    page = client.get(f"/accounts/signup/?invite={token}", HTTP_ACCEPT_LANGUAGE="en")
    response = client.post(f"/accounts/signup/?invite={token}", signup_data("hanako"))

    assert page.status_code == 410
    assert "This invitation has expired." in page.content.decode()
    assert response.status_code == 410
    assert not User.objects.filter(username="hanako").exists()


def test_an_unknown_invitation_is_a_clear_404(client, settings, staff):
    settings.SIGNUP_MODE = "invite"
    invite_with_token(created_by=staff)

    response = client.get("/accounts/signup/?invite=not-a-real-token")

    assert response.status_code == 404
    assert "この招待リンクは無効です" in response.content.decode()


def test_invitations_expire_after_invite_ttl_days_by_default(settings, staff):
    settings.INVITE_TTL_DAYS = 3

    invite, _ = invite_with_token(created_by=staff)

    expected = timezone.now() + timedelta(days=3)
    assert abs((invite.expires_at - expected).total_seconds()) < 5


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_signups_with_one_invitation_only_one_succeeds(settings, monkeypatch):
    settings.SIGNUP_MODE = "invite"
    staff = UserFactory(username="staff", is_staff=True)
    invite, token = invite_with_token(created_by=staff)
    # The worst interleaving, every time: both requests have found the invitation usable
    # before either claims it. Only the claim itself may then let one through.
    both_checked = threading.Barrier(2)
    real_check = invites.invite_get_usable

    def check_then_wait(**kwargs):
        found = real_check(**kwargs)
        both_checked.wait(timeout=10)
        return found

    monkeypatch.setattr(invites, "invite_get_usable", check_then_wait)
    statuses: dict[str, int] = {}

    def sign_up(username: str) -> None:
        try:
            response = Client().post(f"/accounts/signup/?invite={token}", signup_data(username))
            statuses[username] = response.status_code
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=sign_up, args=(name,)) for name in ("hanako", "taro")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses.values()) == [302, 410], statuses
    winner = next(name for name, status in statuses.items() if status == 302)
    assert list(User.objects.exclude(pk=staff.pk).values_list("username", flat=True)) == [winner]
    invite.refresh_from_db()
    assert invite.used_by.username == winner


# --- configuration ---------------------------------------------------------------------


def test_an_unknown_signup_mode_is_a_check_error(settings):
    settings.SIGNUP_MODE = "sometimes"

    errors = [m for m in checks.run_checks(tags=["kaiwa"]) if m.id == "accounts.E001"]

    assert len(errors) == 1 and errors[0].level == checks.ERROR
    assert "SIGNUP_MODE" in errors[0].msg and "sometimes" in errors[0].msg


def test_known_signup_modes_pass_the_check(settings):
    for mode in ("open", "invite", "closed"):
        settings.SIGNUP_MODE = mode
        assert [m for m in checks.run_checks(tags=["kaiwa"]) if m.id.startswith("accounts.")] == []


def _settings_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SIGNUP_MODE", "ENVIRONMENT")}
    return env | {"DJANGO_SETTINGS_MODULE": "config.settings"} | extra


@pytest.mark.parametrize(
    ("environment", "expected"), [("development", "open"), ("production", "closed")]
)
def test_the_default_mode_follows_environment(environment, expected):
    env = _settings_env(ENVIRONMENT=environment, SECRET_KEY="x" * 50, ALLOWED_HOSTS="kaiwa.example")
    code = "from django.conf import settings; print(settings.SIGNUP_MODE)"

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )

    assert result.stdout.strip() == expected, result.stderr


def test_manage_py_check_names_a_bad_signup_mode():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=_settings_env(SIGNUP_MODE="everyone"),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "accounts.E001" in result.stderr and "SIGNUP_MODE='everyone'" in result.stderr
