from django.contrib.auth import views as auth_views
from django.urls import path

from accounts.sso.views import sso_callback, sso_start
from accounts.views import LoginView, PasswordResetView, SignUpView, tokens

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", SignUpView.as_view(), name="signup"),
    path("password-reset/", PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("tokens/", tokens, name="tokens"),
    path("sso/login/", sso_start, name="sso_start"),
    path("sso/callback/", sso_callback, name="sso_callback"),
]
