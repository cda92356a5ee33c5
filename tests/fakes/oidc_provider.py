"""A real loopback fake of an OpenID Connect provider (Entra ID, Google, Okta, Keycloak…).

A LoopbackServer (tests/fakes/loopback_server.py), like FakeOpenAIServer: aiohttp on 127.0.0.1
(ephemeral port) in a background thread with its own event loop, usable from sync tests, live
servers in subprocesses and the browser. Kaiwa's OIDC client talks to it over the wire:

    with FakeOIDCProvider(client_id="kaiwa", client_secret="s3cret") as idp:
        idp.user = {"sub": "u-1", "email": "hanako@example.co.jp"}
        # OIDC_ISSUER=idp.issuer …
        idp.rotate_key()              # JWKS now serves only a new key, tokens are signed with it
        idp.tamper = {"aud": "other"}  # the next ID tokens carry these claims instead

Endpoints: discovery (/.well-known/openid-configuration), authorize (redirects back with
code and state at once, as if the person had signed in as `user`; records the request with
its nonce and PKCE challenge), token (checks the client's credentials, the code, the
redirect URI and the PKCE verifier; answers an RS256 ID token it signs), JWKS and userinfo.

`tamper` changes the next ID tokens: any claim (`iss`, `aud`, `nonce`, `exp`…), or
`"key": "foreign"` to sign with a key that the JWKS does not serve under the same key id.
With `tenant_issuer=True` the discovery document names Microsoft's multi-tenant issuer
template (`{base}/{tenantid}/v2.0`), and tokens carry `iss` with the user's `tid` filled in.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.fakes.loopback_server import LoopbackServer

__all__ = ["AuthorizeRequest", "FakeOIDCProvider"]

MISSING = object()


@dataclass
class AuthorizeRequest:
    """One request to the authorization endpoint, as the provider saw it."""

    params: dict[str, str]
    code: str
    claims: dict[str, Any]
    redeemed: bool = False

    @property
    def nonce(self) -> str | None:
        return self.params.get("nonce")

    @property
    def code_challenge(self) -> str | None:
        return self.params.get("code_challenge")


@dataclass
class _Counters:
    discovery: int = 0
    jwks: int = 0
    token: int = 0
    token_errors: list[str] = field(default_factory=list)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class FakeOIDCProvider(LoopbackServer):
    name = "FakeOIDCProvider"

    def __init__(
        self,
        *,
        client_id: str = "kaiwa-test-client",
        client_secret: str = "kaiwa-test-secret",  # noqa: S107 - a fake's
        tenant_issuer: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.tenant_issuer = tenant_issuer
        super().__init__(host=host)
        self.user: dict[str, Any] = {
            "sub": "subject-1",
            "email": "hanako@example.co.jp",
            "email_verified": True,
        }
        self.tamper: dict[str, Any] = {}
        self.authorize_requests: list[AuthorizeRequest] = []
        self.counters = _Counters()
        self._instance = uuid.uuid4().hex[:8]
        self._kids = itertools.count(1)
        self._key = self._new_key()
        self._foreign_key = RSAKey.generate_key(2048, parameters={"kid": self._key.kid})
        self._lock = threading.Lock()

    # --- what tests use ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def issuer(self) -> str:
        """What OIDC_ISSUER is set to (discovery lives under it)."""
        return self.base_url

    def issuer_for(self, claims: dict[str, Any]) -> str:
        """The `iss` the provider writes into a token for these claims."""
        if self.tenant_issuer:
            return f"{self.base_url}/{claims.get('tid', '')}/v2.0"
        return self.issuer

    @property
    def key_id(self) -> str:
        return self._key.kid

    def rotate_key(self) -> str:
        """Sign with a new key from now on; the JWKS serves only the new one. Returns its id."""
        with self._lock:
            self._key = self._new_key()
        return self._key.kid

    def id_token(self, *, nonce: str | None, extra: dict[str, Any] | None = None) -> str:
        """An ID token for `user` (plus `extra`, then `tamper`), signed as configured."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": self.client_id,
            "iat": now,
            "exp": now + 300,
            **self.user,
            **(extra or {}),
        }
        claims["iss"] = self.issuer_for(claims)
        if nonce is not None:
            claims["nonce"] = nonce
        tamper = dict(self.tamper)
        sign_with = self._foreign_key if tamper.pop("key", None) == "foreign" else self._key
        for name, value in tamper.items():
            if value is MISSING:
                claims.pop(name, None)
            else:
                claims[name] = value
        header = {"alg": "RS256", "kid": sign_with.kid, "typ": "JWT"}
        return jwt.encode(header, claims, sign_with)

    def discovery(self) -> dict[str, Any]:
        issuer = f"{self.base_url}/{{tenantid}}/v2.0" if self.tenant_issuer else self.issuer
        return {
            "issuer": issuer,
            "authorization_endpoint": f"{self.base_url}/authorize",
            "token_endpoint": f"{self.base_url}/token",
            "jwks_uri": f"{self.base_url}/jwks",
            "userinfo_endpoint": f"{self.base_url}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "email", "profile"],
        }

    # --- internals -----------------------------------------------------------------------

    def _new_key(self) -> RSAKey:
        # Key ids unique across providers, as real ones are: a later test's provider may get
        # an earlier one's port, and Kaiwa's client for that issuer keeps the keys it fetched.
        kid = f"key-{self._instance}-{next(self._kids)}"
        return RSAKey.generate_key(2048, parameters={"kid": kid})

    async def _startup(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/userinfo", self._userinfo)
        await self._serve(app)

    async def _discovery(self, request: web.Request) -> web.Response:
        self.counters.discovery += 1
        return web.json_response(self.discovery())

    async def _authorize(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        if params.get("client_id") != self.client_id or params.get("response_type") != "code":
            return web.Response(status=400, text="unknown client or response type")
        code = secrets.token_urlsafe(16)
        self.authorize_requests.append(
            AuthorizeRequest(params=params, code=code, claims=dict(self.user))
        )
        query = urlencode({"code": code, "state": params.get("state", "")})
        raise web.HTTPFound(f"{params['redirect_uri']}?{query}")

    def _token_error(self, reason: str) -> web.Response:
        self.counters.token_errors.append(reason)
        body = {"error": "invalid_grant", "error_description": reason}
        return web.json_response(body, status=400)

    async def _token(self, request: web.Request) -> web.Response:
        self.counters.token += 1
        form = dict(await request.post())
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response({"error": "invalid_client"}, status=401)
        found = next((a for a in self.authorize_requests if a.code == form.get("code")), None)
        if found is None or found.redeemed or form.get("grant_type") != "authorization_code":
            return self._token_error("unknown or used code")
        if form.get("redirect_uri") != found.params.get("redirect_uri"):
            return self._token_error("redirect_uri differs")
        verifier = str(form.get("code_verifier", ""))
        if found.params.get("code_challenge_method") != "S256" or not verifier:
            return self._token_error("PKCE (S256) required")
        if _s256(verifier) != found.code_challenge:
            return self._token_error("code_verifier does not match the code_challenge")
        found.redeemed = True
        with self._lock:
            id_token = self.id_token(nonce=found.nonce, extra=found.claims)
        return web.json_response(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": 3600,
                "id_token": id_token,
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        self.counters.jwks += 1
        with self._lock:
            keys = [self._key.as_dict(private=False) | {"use": "sig", "alg": "RS256"}]
        return web.json_response({"keys": keys})

    async def _userinfo(self, request: web.Request) -> web.Response:
        return web.json_response(dict(self.user))
