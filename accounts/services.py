"""Personal API tokens: create (the plaintext is returned once) and revoke."""

from django.db import transaction

from accounts.models import ApiToken


@transaction.atomic
def api_token_create(*, user, name: str = "") -> tuple[ApiToken, str]:
    """Create a token; returns the stored row and the plaintext, which is never stored."""
    return ApiToken.objects.create(user=user, expiry=None, name=name)


def api_token_revoke(*, token: ApiToken) -> None:
    """Revoke (delete) a token."""
    token.delete()
