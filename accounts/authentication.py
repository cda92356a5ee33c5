"""`Authorization: Bearer <token>` with hashed personal tokens."""

from django.utils import timezone
from knox.auth import TokenAuthentication

from accounts.models import ApiToken

# Writing last_used_at on every request would make each API call a write; once a minute
# is enough to tell a user which tokens are in use.
_LAST_USED_RESOLUTION_SECONDS = 60


class BearerTokenAuthentication(TokenAuthentication):
    """knox's digest check, plus a coarse last-used timestamp."""

    def authenticate_credentials(self, token: bytes):
        user, auth_token = super().authenticate_credentials(token)
        now = timezone.now()
        last = auth_token.last_used_at
        if last is None or (now - last).total_seconds() > _LAST_USED_RESOLUTION_SECONDS:
            ApiToken.objects.filter(pk=auth_token.pk).update(last_used_at=now)
        return user, auth_token
