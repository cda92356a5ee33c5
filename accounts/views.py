"""Sign-up page (login and logout are Django's own views)."""

from django.contrib.auth import login
from django.shortcuts import redirect
from django.views.generic import FormView

from accounts.forms import SignUpForm


class SignUpView(FormView):
    template_name = "registration/signup.html"
    form_class = SignUpForm

    def form_valid(self, form):
        user = form.save()
        login(self.request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("/")
