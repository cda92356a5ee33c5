"""SSO_ONLY's password gate, placed before ModelBackend in AUTHENTICATION_BACKENDS."""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.urls import reverse


class SsoOnlyPasswordGate:
    """Authenticates no one. With SSO_ONLY it raises PermissionDenied for a password,
    which stops Django's authenticate() before ModelBackend looks at it — on every page
    and API that checks passwords — except the admin's log-in while
    SSO_ADMIN_PASSWORD_LOGIN is on (its form admits only staff)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not settings.SSO_ONLY or password is None:
            return None
        if settings.SSO_ADMIN_PASSWORD_LOGIN and request is not None:
            if request.path == reverse("admin:login"):
                return None
        raise PermissionDenied

    # No get_user(): no session is ever made with this backend (and Django's test client's
    # force_login picks the first backend that has one).
