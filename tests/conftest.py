"""Shared fixtures: users, API clients, and the loopback fakes of upstream services."""

import pytest
from django.dispatch import receiver
from django.test.signals import setting_changed
from django.utils.functional import empty
from rest_framework.test import APIClient

from assistant.storage import images_storage
from tests.factories import UserFactory, bearer_client

pytest_plugins = ["tests.fakes.fixtures", "tests.live_server"]


@receiver(setting_changed)
def _images_storage_follows_storages(*, setting: str, **kwargs: object) -> None:
    """A changed STORAGES (below, or in a test) reaches the lazy storage of GeneratedImage.file
    and Attachment.file."""
    if setting == "STORAGES":
        images_storage()._wrapped = empty


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Generated files go to a temporary folder, never the working tree."""
    settings.MEDIA_ROOT = tmp_path / "media"
    images = dict(settings.STORAGES["images"])
    images["OPTIONS"] = {
        **images.get("OPTIONS", {}),
        "location": str(tmp_path / "media" / "images"),
    }
    settings.STORAGES = {**settings.STORAGES, "images": images}


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings):
    """PBKDF2's million rounds would dominate test setup (live servers get the same hasher)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache (live turn state, throttles)."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def user(db):
    return UserFactory(username="alice")


@pytest.fixture
def other_user(db):
    return UserFactory(username="mallory")


@pytest.fixture
def api_client(user) -> APIClient:
    """A client authenticated with a real Bearer token of `user`."""
    return bearer_client(user)


@pytest.fixture
def other_client(other_user) -> APIClient:
    return bearer_client(other_user)


@pytest.fixture
def session_client(user) -> APIClient:
    """A browser-like client: session login with CSRF checks enforced."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


TEST_API_KEY = "sk-test-DO-NOT-LEAK-4f9c2e7a1b"


@pytest.fixture(autouse=True)
def _fast_demo_backend(settings):
    """Unless a test points the backend elsewhere: the demo backend, without its typing delay."""
    settings.LLM_BACKEND = {
        "BACKEND": "assistant.backends.demo.DemoBackend",
        "OPTIONS": {"token_delay": 0},
    }


@pytest.fixture(autouse=True)
def _no_auto_title(settings):
    """Unless a test turns it on: no title call after a first reply (it would take the next
    queued upstream answer)."""
    settings.LLM_AUTO_TITLE = False


@pytest.fixture
def llm_upstream(settings, fake_openai):
    """The OpenAI backend, over the wire, against the loopback fake (2 SDK retries, 5 s timeout)."""
    settings.LLM_BACKEND = {
        "BACKEND": "assistant.backends.openai.OpenAIBackend",
        "OPTIONS": {
            "api_key": TEST_API_KEY,
            "base_url": fake_openai.base_url,
            "model": "gpt-test",
            "image_model": "dall-e-3",
            "timeout": 5,
            "max_retries": 2,
        },
    }
    return fake_openai
