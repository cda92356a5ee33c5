"""Single sign-on (OpenID Connect) against a fake provider on 127.0.0.1.

Each sign-in goes over the wire: Kaiwa's start view redirects to the fake's authorize
endpoint, the test follows that redirect with a real HTTP request, and hands the callback
URL it is sent back to (code and state) to Kaiwa, which redeems the code at the fake's token
endpoint and verifies the ID token against the fake's JWKS.
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core import checks
from django.test import Client

from accounts.models import SsoIdentity
from tests.factories import UserFactory
from tests.fakes.oidc_provider import MISSING, FakeOIDCProvider

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
User = get_user_model()
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def use_provider(settings, provider: FakeOIDCProvider, **extra) -> None:
    settings.OIDC_ISSUER = provider.issuer
    settings.OIDC_CLIENT_ID = provider.client_id
    settings.OIDC_CLIENT_SECRET = provider.client_secret
    settings.OIDC_PROVIDER_NAME = "Fake ID"
    settings.OIDC_ALLOWED_DOMAINS = []
    settings.OIDC_ALLOWED_TENANTS = []
    settings.SIGNUP_MODE = "open"
    for name, value in extra.items():
        setattr(settings, name, value)


@pytest.fixture
def sso(settings, fake_oidc):
    use_provider(settings, fake_oidc)
    return fake_oidc


def sign_in(client: Client, provider: FakeOIDCProvider, *, next_url: str = ""):
    """Start at Kaiwa, pass through the provider, return Kaiwa's answer to the callback."""
    start = client.get("/accounts/sso/login/", {"next": next_url} if next_url else {})
    assert start.status_code == 302, start.content
    authorize = start["Location"]
    assert authorize.startswith(f"{provider.base_url}/authorize?")
    back = requests.get(authorize, allow_redirects=False, timeout=10)
    assert back.status_code == 302
    callback = urlsplit(back.headers["Location"])
    assert callback.path == "/accounts/sso/callback/"
    return client.get(f"{callback.path}?{callback.query}")


def assert_refused(response, problem: str) -> None:
    assert response.status_code == 403
    assert f'data-problem="{problem}"' in response.content.decode()
    assert "_auth_user_id" not in response.wsgi_request.session


# --- the flow ------------------------------------------------------------------------


def test_the_login_page_offers_the_provider_only_when_configured(client, settings, fake_oidc):
    settings.OIDC_ISSUER = ""
    assert "sso-form" not in client.get("/accounts/login/").content.decode()

    use_provider(settings, fake_oidc)
    page = client.get("/accounts/login/").content.decode()

    assert 'id="sso-form"' in page and "Fake ID" in page
    assert 'id="login-form"' in page  # the password form stays without SSO_ONLY
    # The page asked for is passed on to the sign-in.
    page = client.get("/accounts/login/?next=/notes/").content.decode()
    assert 'href="/accounts/sso/login/?next=/notes/"' in page


def test_first_sign_in_creates_the_user_and_lands_in_the_chat(client, sso):
    sso.user = {
        "sub": "entra-oid-1",
        "email": "Hanako@Example.co.jp",
        "given_name": "花子",
        "family_name": "山田",
    }

    response = sign_in(client, sso)

    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(sso_identities__subject="entra-oid-1")
    assert user.email == "Hanako@Example.co.jp" and user.first_name == "花子"
    assert not user.has_usable_password()
    identity = user.sso_identities.get()
    assert identity.issuer == sso.issuer and identity.last_login_at is not None
    chat = client.get("/")
    assert chat.status_code == 200 and chat.wsgi_request.user == user


def test_the_request_carries_pkce_state_and_nonce_and_the_code_is_redeemed_with_them(client, sso):
    sign_in(client, sso)

    [request] = sso.authorize_requests
    assert request.params["code_challenge_method"] == "S256"
    assert len(request.code_challenge) >= 43
    assert request.nonce and request.params["state"]
    assert set(request.params["scope"].split()) == {"openid", "email", "profile"}
    assert request.params["redirect_uri"] == "http://testserver/accounts/sso/callback/"
    assert request.redeemed and sso.counters.token_errors == []


def test_a_second_sign_in_is_the_same_user_found_by_subject(client, sso):
    sso.user = {"sub": "same-person", "email": "taro@example.co.jp"}
    sign_in(client, sso)
    first = User.objects.get(sso_identities__subject="same-person")
    client.logout()

    # The address changed at the provider; the subject did not: still the same account.
    sso.user = {"sub": "same-person", "email": "taro.yamada@example.co.jp"}
    response = sign_in(Client(), sso)

    assert response.status_code == 302
    assert response.wsgi_request.user == first
    assert User.objects.count() == 1
    assert SsoIdentity.objects.get().email == "taro.yamada@example.co.jp"


def _race_after_free_username(monkeypatch, racer) -> None:
    """Run `racer(name)` once, between the free-username check and the account's insert:
    another sign-in that wins the race."""
    from accounts.sso import services

    original = services._free_username  # noqa: SLF001 - the window under test
    raced = []

    def free_username_then_race(claims, email):
        name = original(claims, email)
        if not raced:
            raced.append(name)
            racer(name)
        return name

    monkeypatch.setattr(services, "_free_username", free_username_then_race)


def test_two_people_racing_for_one_username_both_get_an_account(client, sso, monkeypatch):
    # Someone else's first sign-in takes the name after it was found free.
    _race_after_free_username(monkeypatch, lambda name: UserFactory(username=name))
    sso.user = {"sub": "second-person", "email": "sato@example.co.jp"}

    response = sign_in(client, sso)

    assert response.status_code == 302
    user = User.objects.get(sso_identities__subject="second-person")
    assert user.username == "sato@example.co.jp-2"
    assert response.wsgi_request.user == user
    racer = User.objects.get(username="sato@example.co.jp")
    assert not racer.sso_identities.exists()


def test_the_same_person_racing_in_two_tabs_gets_one_account(client, sso, monkeypatch):
    sso.user = {"sub": "two-tabs", "email": "suzuki@example.co.jp"}

    def other_tab(name):
        other = UserFactory(username=f"{name}-tab")
        SsoIdentity.objects.create(user=other, issuer=sso.issuer, subject="two-tabs")

    _race_after_free_username(monkeypatch, other_tab)

    response = sign_in(client, sso)

    assert response.status_code == 302
    assert response.wsgi_request.user.username == "suzuki@example.co.jp-tab"
    assert SsoIdentity.objects.count() == 1
    assert not User.objects.filter(username="suzuki@example.co.jp").exists()


def test_next_is_followed_only_within_the_site(client, sso):
    assert sign_in(client, sso, next_url="/notes/")["Location"] == "/notes/"
    client.logout()
    assert sign_in(Client(), sso, next_url="https://evil.example/")["Location"] == "/"


def test_the_same_email_as_a_password_account_is_not_taken_over(client, sso):
    owner = UserFactory(username="owner", email="boss@example.co.jp")
    sso.user = {"sub": "someone-else", "email": "boss@example.co.jp"}

    assert_refused(sign_in(client, sso), "account_exists")
    assert not SsoIdentity.objects.filter(user=owner).exists()


def test_a_deactivated_user_cannot_sign_in(client, sso):
    sign_in(client, sso)
    user = User.objects.get()
    user.is_active = False
    user.save()

    assert_refused(sign_in(Client(), sso), "inactive")


def test_a_replayed_callback_is_refused(client, sso):
    start = client.get("/accounts/sso/login/")
    back = requests.get(start["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(back.headers["Location"])
    assert client.get(f"{callback.path}?{callback.query}").status_code == 302

    # The state was used up (and the code too): the same browser's second use is refused
    # before the provider is asked again.
    tokens_asked = sso.counters.token
    response = client.get(f"{callback.path}?{callback.query}")

    assert response.status_code == 403
    assert 'data-problem="provider_error"' in response.content.decode()
    assert sso.counters.token == tokens_asked


def test_a_callback_from_another_browser_is_refused(client, sso):
    start = client.get("/accounts/sso/login/")
    back = requests.get(start["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(back.headers["Location"])

    # Its session holds no such state: an attacker's code pushed into a victim's browser.
    assert_refused(Client().get(f"{callback.path}?{callback.query}"), "provider_error")
    assert User.objects.count() == 0


def test_the_providers_own_refusal_is_shown(client, sso):
    client.get("/accounts/sso/login/")
    state = next(k for k in client.session.keys() if k.startswith("_state_")).split("_")[-1]

    response = client.get(f"/accounts/sso/callback/?error=access_denied&state={state}")

    assert_refused(response, "provider_error")


def test_pkce_a_wrong_verifier_gets_no_token(client, sso):
    """The fake checks the verifier against the challenge; a client sending another one
    (as an attacker holding only the code would) gets no token and no sign-in."""
    start = client.get("/accounts/sso/login/")
    session = client.session
    key = next(k for k in session.keys() if k.startswith("_state_"))
    data = session[key]
    data["data"]["code_verifier"] = "x" * 48
    session[key] = data
    session.save()
    back = requests.get(start["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(back.headers["Location"])

    assert_refused(client.get(f"{callback.path}?{callback.query}"), "provider_error")
    assert sso.counters.token_errors == ["code_verifier does not match the code_challenge"]


# --- ID tokens that must be refused ----------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"key": "foreign"}, id="wrong-signature"),
        pytest.param({"iss": "http://127.0.0.1:1/other-issuer"}, id="wrong-issuer"),
        pytest.param({"aud": "another-client"}, id="wrong-audience"),
        pytest.param({"aud": ["another-client"], "azp": "kaiwa-test-client"}, id="aud-list"),
        pytest.param({"nonce": "not-the-nonce-sent"}, id="wrong-nonce"),
        pytest.param({"nonce": MISSING}, id="no-nonce"),
        pytest.param({"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}, id="expired"),
    ],
)
def test_an_id_token_that_fails_verification_is_refused(client, sso, tamper):
    sso.tamper = tamper

    assert_refused(sign_in(client, sso), "invalid_token")
    assert User.objects.count() == 0


def test_the_untampered_token_of_the_same_setup_passes(client, sso):
    """The refusals above are the tampering's doing, not the setup's."""
    sso.tamper = {"azp": sso.client_id}
    assert sign_in(client, sso).status_code == 302


def test_a_rotated_signing_key_is_picked_up(client, sso):
    sign_in(client, sso)
    first_key = sso.key_id
    jwks_fetches = sso.counters.jwks
    client.logout()

    new_key = sso.rotate_key()
    response = sign_in(Client(), sso)

    assert new_key != first_key
    assert response.status_code == 302
    assert sso.counters.jwks == jwks_fetches + 1  # fetched again for the unknown key id


def test_keys_and_discovery_are_not_fetched_again_without_rotation(client, sso):
    sign_in(client, sso)
    client.logout()
    fetched = (sso.counters.discovery, sso.counters.jwks)

    sign_in(Client(), sso)

    assert (sso.counters.discovery, sso.counters.jwks) == fetched


# --- who may come in -------------------------------------------------------------------


def test_a_disallowed_domain_is_refused(client, settings, sso):
    settings.OIDC_ALLOWED_DOMAINS = ["example.co.jp"]
    sso.user = {"sub": "outsider", "email": "someone@gmail.com"}

    assert_refused(sign_in(client, sso), "domain")
    assert User.objects.count() == 0


def test_an_allowed_domain_signs_in_even_with_signup_closed(client, settings, sso):
    settings.OIDC_ALLOWED_DOMAINS = ["example.co.jp"]
    settings.SIGNUP_MODE = "closed"
    sso.user = {"sub": "insider", "email": "jiro@EXAMPLE.co.jp", "email_verified": True}

    assert sign_in(client, sso).status_code == 302
    assert User.objects.filter(email="jiro@EXAMPLE.co.jp").exists()


def test_an_unverified_email_does_not_pass_the_domain_list(client, settings, sso):
    settings.OIDC_ALLOWED_DOMAINS = ["example.co.jp"]
    sso.user = {"sub": "claims-it", "email": "ceo@example.co.jp", "email_verified": False}

    assert_refused(sign_in(client, sso), "domain")


def test_an_email_not_said_to_be_verified_does_not_pass_the_domain_list(client, settings, sso):
    # Entra ID sends `email` without `email_verified`, and another tenant's admin can set
    # any address there ("nOAuth"): silence is not verification.
    settings.OIDC_ALLOWED_DOMAINS = ["example.co.jp"]
    sso.user = {"sub": "claims-it", "email": "ceo@example.co.jp"}

    assert_refused(sign_in(client, sso), "domain")
    assert User.objects.count() == 0


def test_preferred_username_does_not_pass_the_domain_list(client, settings, sso):
    # Microsoft: preferred_username is mutable and must not be used for authorisation.
    settings.OIDC_ALLOWED_DOMAINS = ["contoso.com"]
    sso.user = {"sub": "entra-1", "preferred_username": "adele@contoso.com"}

    assert_refused(sign_in(client, sso), "domain")
    assert User.objects.count() == 0


def test_entra_xms_edov_verifies_the_email_domain(client, settings, sso):
    settings.OIDC_ALLOWED_DOMAINS = ["contoso.com"]
    sso.user = {"sub": "entra-2", "email": "megan@contoso.com", "xms_edov": False}
    assert_refused(sign_in(client, sso), "domain")

    sso.user["xms_edov"] = True
    assert sign_in(Client(), sso).status_code == 302
    assert User.objects.get().email == "megan@contoso.com"


def test_preferred_username_still_names_the_account_the_tenant_list_admits(client, settings, sso):
    settings.OIDC_ALLOWED_TENANTS = [TENANT]
    sso.user = {"sub": "entra-3", "preferred_username": "adele@contoso.com", "tid": TENANT}

    assert sign_in(client, sso).status_code == 302
    assert User.objects.get().username == "adele@contoso.com"


def test_a_user_who_left_the_domain_is_refused_next_time(client, settings, sso):
    settings.OIDC_ALLOWED_DOMAINS = ["example.co.jp"]
    sso.user = {"sub": "leaver", "email": "leaver@example.co.jp", "email_verified": True}
    assert sign_in(client, sso).status_code == 302
    client.logout()

    sso.user = {"sub": "leaver", "email": "leaver@elsewhere.com", "email_verified": True}

    assert_refused(sign_in(Client(), sso), "domain")


def test_new_people_are_not_created_without_an_allow_list_unless_signup_is_open(
    client, settings, sso
):
    settings.SIGNUP_MODE = "invite"

    assert_refused(sign_in(client, sso), "no_account")
    assert User.objects.count() == 0


def test_a_disallowed_tenant_is_refused_and_an_allowed_one_signs_in(settings, sso):
    settings.OIDC_ALLOWED_TENANTS = [TENANT]
    other_tenant = "00000000-0000-0000-0000-000000000001"
    sso.user = {"sub": "guest", "email": "guest@fabrikam.com", "tid": other_tenant}
    assert_refused(sign_in(Client(), sso), "tenant")

    sso.user = {"sub": "member", "email": "member@contoso.com", "tid": TENANT.upper()}
    assert sign_in(Client(), sso).status_code == 302
    assert SsoIdentity.objects.get().tenant_id == TENANT.upper()


def test_a_token_without_a_tenant_is_refused_when_tenants_are_listed(client, settings, sso):
    settings.OIDC_ALLOWED_TENANTS = [TENANT]
    assert_refused(sign_in(client, sso), "tenant")


# --- Entra ID's multi-tenant issuer ----------------------------------------------------


@pytest.fixture
def multi_tenant(settings):
    with FakeOIDCProvider(tenant_issuer=True) as provider:
        use_provider(settings, provider, OIDC_ALLOWED_TENANTS=[TENANT])
        yield provider


def test_multi_tenant_issuer_accepts_the_tokens_own_tenant(client, multi_tenant):
    multi_tenant.user = {"sub": "m-1", "email": "a@contoso.com", "tid": TENANT}

    assert sign_in(client, multi_tenant).status_code == 302
    assert SsoIdentity.objects.get().issuer == f"{multi_tenant.base_url}/{TENANT}/v2.0"


def test_multi_tenant_issuer_refuses_an_issuer_of_another_tenant(client, multi_tenant):
    multi_tenant.user = {"sub": "m-2", "email": "a@contoso.com", "tid": TENANT}
    multi_tenant.tamper = {"iss": f"{multi_tenant.base_url}/some-other-tenant/v2.0"}

    assert_refused(sign_in(client, multi_tenant), "invalid_token")


# --- SSO_ONLY ----------------------------------------------------------------------------


def test_sso_only_hides_the_password_form_and_closes_password_routes(client, settings, sso):
    settings.SSO_ONLY = True
    UserFactory(username="pw", password="a-long-password-1")  # noqa: S106

    page = client.get("/accounts/login/").content.decode()
    assert 'id="sso-form"' in page
    assert 'id="login-form"' not in page and 'name="password"' not in page
    assert "/accounts/signup/" not in page and "/accounts/password-reset/" not in page
    assert client.get("/accounts/signup/").status_code == 404
    assert client.get("/accounts/password-reset/").status_code == 404
    # A password posted anyway is refused by the authentication gate.
    client.post("/accounts/login/", {"username": "pw", "password": "a-long-password-1"})
    assert "_auth_user_id" not in client.session


def test_sso_only_lets_staff_use_the_admin_with_a_password_when_allowed(client, settings, sso):
    settings.SSO_ONLY = True
    UserFactory(username="boss", password="a-long-password-1", is_staff=True)  # noqa: S106
    login = {"username": "boss", "password": "a-long-password-1", "next": "/admin/"}

    settings.SSO_ADMIN_PASSWORD_LOGIN = False
    client.post("/admin/login/", login)
    assert "_auth_user_id" not in client.session

    settings.SSO_ADMIN_PASSWORD_LOGIN = True
    assert client.post("/admin/login/", login).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_without_sso_only_password_login_still_works(client, sso):
    UserFactory(username="pw", password="a-long-password-1")  # noqa: S106
    client.post("/accounts/login/", {"username": "pw", "password": "a-long-password-1"})
    assert "_auth_user_id" in client.session


def test_sso_routes_are_404_without_a_provider(client, settings):
    settings.OIDC_ISSUER = ""
    assert client.get("/accounts/sso/login/").status_code == 404
    assert client.get("/accounts/sso/callback/?code=x&state=y").status_code == 404


def test_an_unreachable_provider_is_a_clear_page(client, settings, sso):
    settings.OIDC_ISSUER = "http://127.0.0.1:9"  # discard port: nothing listens

    response = client.get("/accounts/sso/login/")

    assert response.status_code == 502
    assert 'data-problem="unreachable"' in response.content.decode()


# --- the admin -------------------------------------------------------------------------


def test_staff_see_who_signs_in_with_sso_and_when(client, sso):
    sso.user = {"sub": "s-1", "email": "sso-person@example.co.jp"}
    sign_in(client, sso)
    UserFactory(username="password-person")
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    admin = Client()
    admin.force_login(staff)

    with_sso = admin.get("/admin/auth/user/?sso=yes").content.decode()
    without = admin.get("/admin/auth/user/?sso=no").content.decode()
    person = User.objects.get(email="sso-person@example.co.jp")
    detail = admin.get(f"/admin/auth/user/{person.pk}/change/").content.decode()

    assert "sso-person@example.co.jp" in with_sso and "password-person" not in with_sso
    assert "password-person" in without and "sso-person@example.co.jp" not in without
    assert "column-sso_last_login_at" in with_sso
    assert "s-1" in detail  # the identity's subject, in the inline


# --- configuration checks ---------------------------------------------------------------


def _errors(prefix: str = "accounts.E") -> list:
    return [m for m in checks.run_checks(tags=["kaiwa"]) if m.id.startswith(prefix)]


@pytest.mark.parametrize(
    ("issuer", "fragment"),
    [
        ("login.microsoftonline.com/x/v2.0", "needs https://"),
        ("http://idp.example.com", "must use https://"),
        ("https://idp.example.com/.well-known/openid-configuration", "without"),
        ("https://idp.example.com/?tenant=x", "plain URL"),
    ],
)
def test_a_malformed_issuer_is_a_check_error_naming_the_variable(settings, issuer, fragment):
    settings.OIDC_ISSUER = issuer
    settings.OIDC_CLIENT_ID = "id"
    settings.OIDC_CLIENT_SECRET = "secret"  # noqa: S105

    [error] = _errors()

    assert error.id == "accounts.E004" and "OIDC_ISSUER" in error.msg and fragment in error.msg


def test_a_missing_secret_is_a_check_error_naming_the_variable(settings):
    settings.OIDC_ISSUER = "https://login.microsoftonline.com/" + TENANT + "/v2.0"
    settings.OIDC_CLIENT_ID = "id"
    settings.OIDC_CLIENT_SECRET = ""

    [error] = _errors()

    assert error.id == "accounts.E005" and "OIDC_CLIENT_SECRET" in error.msg


def test_other_sso_checks(settings):
    settings.OIDC_ISSUER = ""
    settings.SSO_ONLY = True
    assert [e.id for e in _errors()] == ["accounts.E007"]

    settings.SSO_ONLY = False
    settings.OIDC_ISSUER = "https://login.microsoftonline.com/organizations/v2.0"
    settings.OIDC_CLIENT_ID = "id"
    settings.OIDC_CLIENT_SECRET = "secret"  # noqa: S105
    settings.OIDC_SCOPES = ["email"]
    settings.OIDC_ALLOWED_DOMAINS = ["@bad@"]
    assert sorted(e.id for e in _errors()) == ["accounts.E006", "accounts.E008", "accounts.E009"]

    settings.OIDC_ALLOWED_DOMAINS = []
    settings.OIDC_SCOPES = ["openid"]
    assert [e.id for e in _errors()] == ["accounts.E008"]

    # Domains alone do not fence a multi-tenant issuer: any tenant's admin sets addresses.
    settings.OIDC_ALLOWED_DOMAINS = ["contoso.com"]
    assert [e.id for e in _errors()] == ["accounts.E008"]

    settings.OIDC_ALLOWED_TENANTS = [TENANT]
    assert _errors() == []


def test_manage_py_check_names_a_missing_secret():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "SSO_"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "OIDC_ISSUER": "https://idp.example.com/realms/kaiwa",
        "OIDC_CLIENT_ID": "kaiwa",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "accounts.E005" in result.stderr and "OIDC_CLIENT_SECRET" in result.stderr


def test_scopes_may_be_space_or_comma_separated():
    code = "from django.conf import settings; print(' '.join(settings.OIDC_SCOPES))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OIDC_")}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings", "OIDC_SCOPES": "openid,email  offline"}
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "openid email offline", result.stderr
