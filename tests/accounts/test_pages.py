import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


def test_signup_creates_user_and_logs_in(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "hanako",
            "email": "hanako@example.com",
            "password1": "s3cret-pass-phrase",
            "password2": "s3cret-pass-phrase",
        },
    )
    assert response.status_code == 302
    assert get_user_model().objects.filter(username="hanako").exists()
    assert client.get("/").status_code == 200


def test_signup_rejects_mismatched_passwords(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "taro",
            "email": "taro@example.com",
            "password1": "s3cret-pass-phrase",
            "password2": "other-pass-phrase",
        },
    )
    assert response.status_code == 200
    assert not get_user_model().objects.filter(username="taro").exists()


def test_login_and_logout(client, user):
    assert client.get("/").status_code == 302  # login required
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": "pw-for-tests-123"}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302
