"""Sign-up, log-in, password-reset and API-token pages (logout is Django's own view)."""

import hashlib

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.generic import FormView

from accounts.forms import SignUpForm
from accounts.invites import InviteProblem, InviteUnusable, invite_get_usable, signup_with_invite
from accounts.lockout import throttled_response
from accounts.models import ApiToken
from accounts.sso.config import sso_config
from assistant.limits import Throttled, rate_check


def signup_mode() -> str:
    """SIGNUP_MODE; an unknown value (also reported by `manage.py check`) counts as closed."""
    mode = settings.SIGNUP_MODE
    return mode if mode in ("open", "invite") else "closed"


def _client_ip(request: HttpRequest) -> str:
    # axes' own resolution, so lock-outs and these throttles agree on who the client is.
    return get_client_ip_address(request) or "unknown"


def _invite_unusable(request: HttpRequest, problem: InviteProblem) -> HttpResponse:
    status = 404 if problem is InviteProblem.UNKNOWN else 410
    return render(
        request, "registration/invite_unusable.html", {"problem": problem.value}, status=status
    )


class LoginView(auth_views.LoginView):
    """Django's login view; links to sign-up only when anyone may sign up; offers single
    sign-on when a provider is configured, and only that with SSO_ONLY."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        config = sso_config()
        return super().get_context_data(
            **kwargs,
            signup_open=signup_mode() == "open" and not settings.SSO_ONLY,
            sso_provider_name=config.provider_name if config else None,
            password_login=not settings.SSO_ONLY,
        )


class SignUpView(FormView):
    """Sign-up per SIGNUP_MODE: open to all, by invitation (?invite=<token>), or a 404."""

    template_name = "registration/signup.html"
    form_class = SignUpForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return redirect("/")
        mode = signup_mode()
        if mode == "closed" or settings.SSO_ONLY:
            raise Http404
        self.invite_token = ""  # nosec B105: an invitation link's token, none yet
        if mode == "invite":
            self.invite_token = request.GET.get("invite", "")
            if not self.invite_token:
                raise Http404
            try:
                invite_get_usable(token=self.invite_token)
            except InviteUnusable as exc:
                return _invite_unusable(request, exc.problem)
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        try:
            rate_check(key=f"signup:ip:{_client_ip(request)}", rate=settings.THROTTLE_SIGNUP)
        except Throttled as exc:
            return throttled_response(request, exc)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        if self.invite_token:
            try:
                user = signup_with_invite(token=self.invite_token, create_user=form.save)
            except InviteUnusable as exc:
                return _invite_unusable(self.request, exc.problem)
        else:
            user = form.save()
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("/")


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset-by-mail, throttled per client IP and per e-mail address."""

    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def dispatch(self, request, *args, **kwargs):
        if settings.SSO_ONLY:
            raise Http404  # no passwords to reset: the provider keeps them
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        email = request.POST.get("email", "").strip().lower()
        # The address is hashed: cache keys must not carry it (nor its odd characters).
        email_key = hashlib.sha256(email.encode()).hexdigest()
        try:
            rate_check(
                key=f"password_reset:ip:{_client_ip(request)}",
                rate=settings.THROTTLE_PASSWORD_RESET,
            )
            if email:
                rate_check(
                    key=f"password_reset:email:{email_key}",
                    rate=settings.THROTTLE_PASSWORD_RESET_EMAIL,
                )
        except Throttled as exc:
            return throttled_response(request, exc)
        return super().post(request, *args, **kwargs)


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """Personal API tokens: create (the plaintext is shown once) and revoke, via /api/tokens/."""
    user_tokens = ApiToken.objects.filter(user=request.user).order_by("-created")
    return render(request, "accounts/tokens.html", {"tokens": user_tokens})
