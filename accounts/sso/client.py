"""The OpenID Connect client: Authlib's Django integration, configured from SsoConfig.

Authlib does the protocol: discovery (OIDC_ISSUER + /.well-known/openid-configuration),
the authorization-code flow with PKCE (S256), `state` (kept in the session) and `nonce`,
the token request, and the ID token's checks — its signature against the provider's JWKS
(fetched again when a token names a key id it does not know, so key rotation is picked up),
`exp`/`iat`, `nonce`, `azp` and `at_hash`. The claims options below add what Authlib leaves
to the caller: the audience must contain our client id, and the issuer must be the
discovered one (for Microsoft's multi-tenant authorities, the one of the token's tenant).
"""

from functools import lru_cache
from typing import Any

from authlib.integrations.django_client import DjangoOAuth2App, OAuth

from accounts.sso.config import SsoConfig

# Every call to the provider is bounded (discovery, token, JWKS).
HTTP_TIMEOUT_SECONDS = 10
# Clock skew tolerated on exp/iat, in seconds.
LEEWAY_SECONDS = 60
TENANT_PLACEHOLDER = "{tenantid}"


@lru_cache(maxsize=4)
def oidc_client(config: SsoConfig) -> DjangoOAuth2App:
    """One client per configuration and process: it keeps the discovery document and the
    provider's keys between sign-ins (the keys are fetched again on an unknown key id)."""
    return OAuth().register(
        name="kaiwa_sso",
        client_id=config.client_id,
        client_secret=config.client_secret,
        server_metadata_url=config.discovery_url,
        client_kwargs={
            "scope": " ".join(config.scopes),
            "code_challenge_method": "S256",
            "default_timeout": HTTP_TIMEOUT_SECONDS,
        },
    )


def id_token_claims_options(client: DjangoOAuth2App) -> dict[str, Any]:
    """Authlib's claims options for the ID token: issuer and audience, both required."""
    issuer = client.load_server_metadata()["issuer"]

    def issuer_matches(claims: dict[str, Any], value: str) -> bool:
        return value == expected_issuer(issuer, claims)

    return {
        "iss": {"essential": True, "validate": issuer_matches},
        "aud": {"essential": True, "values": [client.client_id]},
    }


def expected_issuer(discovered: str, claims: dict[str, Any]) -> str | None:
    """The issuer a token must carry: the discovered one, or for a multi-tenant Entra
    authority (issuer `https://login.microsoftonline.com/{tenantid}/v2.0`) the template
    filled with the token's own `tid`, as Microsoft's validation guidance says."""
    if TENANT_PLACEHOLDER not in discovered:
        return discovered
    tenant = claims.get("tid")
    if not isinstance(tenant, str) or not tenant or "/" in tenant:
        return None
    return discovered.replace(TENANT_PLACEHOLDER, tenant)
