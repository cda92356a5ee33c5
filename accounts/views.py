"""Sign-up and API-token pages (login and logout are Django's own views)."""

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.generic import FormView

from accounts.forms import SignUpForm
from accounts.models import ApiToken


class SignUpView(FormView):
    template_name = "registration/signup.html"
    form_class = SignUpForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            return redirect("/")
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        user = form.save()
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("/")


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
    """Personal API tokens: create (the plaintext is shown once) and revoke, via /api/tokens/."""
    user_tokens = ApiToken.objects.filter(user=request.user).order_by("-created")
    return render(request, "accounts/tokens.html", {"tokens": user_tokens})
