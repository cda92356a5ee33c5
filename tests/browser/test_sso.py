"""Single sign-on in Chromium: the login page's button, the provider's redirect back, the
chat; against a fake OpenID Connect provider on 127.0.0.1 and a Kaiwa process configured
for it (SSO_ONLY, so the page offers nothing else)."""

import re
from urllib.parse import urlsplit

import pytest
from playwright.async_api import expect

from accounts.models import SsoIdentity
from tests.browser.conftest import close_browsing, db, open_browsing
from tests.browser.helpers import send, wait_for_reply_text
from tests.fakes.oidc_provider import FakeOIDCProvider
from tests.fakes.openai_server import reply

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]


@pytest.fixture
def provider():
    with FakeOIDCProvider() as fake:
        fake.user = {
            "sub": "entra-object-42",
            "email": "hanako@example.co.jp",
            "email_verified": True,
            "given_name": "花子",
        }
        yield fake


@pytest.fixture
def sso_server(spawn_kaiwa, provider):
    return spawn_kaiwa(
        "sso",
        OIDC_ISSUER=provider.issuer,
        OIDC_CLIENT_ID=provider.client_id,
        OIDC_CLIENT_SECRET=provider.client_secret,
        OIDC_PROVIDER_NAME="Fake ID",
        OIDC_ALLOWED_DOMAINS="example.co.jp",
        SSO_ONLY="true",
        SIGNUP_MODE="closed",
    )


async def test_sign_in_with_the_provider_and_chat(browser, sso_server, provider, upstream, request):
    browsing = await open_browsing(browser, sso_server)
    try:
        page = browsing.page
        await page.goto("/")
        await expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
        # SSO_ONLY: the provider's button and nothing to type a password into.
        button = page.get_by_role("link", name="Fake ID でサインイン")
        await expect(button).to_be_visible()
        await expect(page.locator("input[type=password]")).to_have_count(0)
        await expect(page.locator("#login-form")).to_have_count(0)

        await button.click()
        await page.wait_for_url(f"{sso_server.url}/")

        # Signed in as a new user, found again by the provider's subject.
        identity = await db(
            SsoIdentity.objects.select_related("user").get, subject="entra-object-42"
        )
        assert identity.user.email == "hanako@example.co.jp"
        [authorize] = provider.authorize_requests
        assert authorize.redeemed and authorize.params["code_challenge_method"] == "S256"

        # The chat works for them.
        upstream.enqueue(reply("ようこそ、花子さん。"))
        await send(page, "こんにちは")
        await wait_for_reply_text(page, "ようこそ", status="complete")

        # The only other host the browser went to is the provider's authorize endpoint.
        provider_host = urlsplit(provider.base_url).netloc
        assert browsing.watch.foreign_requests
        assert all(
            urlsplit(url).netloc == provider_host and urlsplit(url).path == "/authorize"
            for url in browsing.watch.foreign_requests
        )
        browsing.watch.foreign_requests.clear()
        browsing.watch.assert_clean()
    finally:
        await close_browsing(browsing, request)


async def test_a_disallowed_domain_sees_the_refusal_page(browser, sso_server, provider, request):
    provider.user = {"sub": "outsider", "email": "someone@gmail.com"}
    browsing = await open_browsing(browser, sso_server)
    try:
        page = browsing.page
        await page.goto("/accounts/login/")
        await page.get_by_role("link", name="Fake ID でサインイン").click()
        await expect(page.locator("#sso-refused")).to_have_attribute("data-problem", "domain")
        await expect(page.locator("#sso-refused [role=alert]")).to_contain_text(
            "ドメインは Kaiwa の利用を許可されていません"
        )
        assert await db(SsoIdentity.objects.count) == 0
    finally:
        await close_browsing(browsing, request)
