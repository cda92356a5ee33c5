"""Lock-out over real HTTP, across two daphne processes sharing the database (ASGI path)."""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


class Browser:
    """A cookie-keeping HTTP client that logs in the way a browser does (CSRF included)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            _NoRedirect,
        )

    def log_in(self, username: str, password: str) -> tuple[int, str]:
        page = self.opener.open(f"{self.base_url}/accounts/login/", timeout=10).read().decode()
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": csrf}
        ).encode()
        try:
            response = self.opener.open(f"{self.base_url}/accounts/login/", body, timeout=10)
        except urllib.error.HTTPError as error:  # 3xx (not followed) and 4xx land here
            return error.code, error.read().decode()
        return response.status, response.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_failures_on_one_process_lock_the_login_on_another(spawn_kaiwa):
    UserFactory(username="alice")
    first = spawn_kaiwa("axes-a", AXES_FAILURE_LIMIT="3")
    second = spawn_kaiwa("axes-b", AXES_FAILURE_LIMIT="3")

    assert Browser(first.url).log_in("alice", "wrong")[0] == 200
    assert Browser(second.url).log_in("alice", "wrong")[0] == 200
    assert Browser(first.url).log_in("alice", "wrong")[0] == 429

    status, body = Browser(second.url).log_in("alice", "pw-for-tests-123")
    assert status == 429
    assert "ログインの失敗が多すぎます" in body
    # (Every request here comes from 127.0.0.1, so that IP is now locked too.)
    assert Browser(second.url).log_in("someone-else", "pw-for-tests-123")[0] == 429


def test_a_correct_login_over_asgi_is_not_locked(spawn_kaiwa):
    UserFactory(username="alice")
    server = spawn_kaiwa("axes-ok", AXES_FAILURE_LIMIT="3")

    for _ in range(4):
        assert Browser(server.url).log_in("alice", "pw-for-tests-123")[0] == 302
