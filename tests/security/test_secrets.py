"""Secrets never leave: not in any response, log line or admin page.

Distinctive values are configured for every secret Kaiwa holds (SECRET_KEY, provider keys,
the metrics token, a search key), an upstream that echoes the key back in its errors is
called, and then every admin page, every API read, the probes, the metrics and the schema
are fetched and searched for them — along with every log record written meanwhile.
"""

import json
import logging

import aiohttp
import pytest
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.fakes.openai_server import error
from tests.security.endpoints import api_operations, response_text
from tests.streaming_clients import read_sse

SECRETS = {
    "SECRET_KEY": "django-SECRET-KEY-sentinel-6f1d0c9a2b7e4f3a8d5c1b0e9f7a6d4c2b1a0f9e",
    "OPENAI_API_KEY": "sk-OPENAI-sentinel-4b2d9e71c0",
    "AZURE_OPENAI_API_KEY": "AZURE-CHAT-sentinel-93ab51e2f7",
    "AZURE_OPENAI_IMAGE_API_KEY": "AZURE-IMAGE-sentinel-5c1d88a0b3",
    "METRICS_TOKEN": "METRICS-sentinel-0e4f6a2c9d",
    "TAVILY_API_KEY": "tvly-sentinel-22aa7f3e10",
}

pytestmark = pytest.mark.django_db(transaction=True)


def assert_no_secrets(text: str, where: str, extra: tuple[str, ...] = ()) -> None:
    for name, value in [*SECRETS.items(), *(("token", value) for value in extra)]:
        assert value not in text, f"{name} leaked in {where}"


def _echoing_error(key: str):
    """What a provider (or a proxy in front of one) may answer: the key, echoed in full."""
    body = {
        "error": {
            "message": f"Incorrect API key provided: {key}. You can find your API key at ...",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    return error(401, body)


@pytest.fixture
def secret_settings(settings, fake_openai):
    settings.SECRET_KEY = SECRETS["SECRET_KEY"]
    settings.METRICS_TOKEN = SECRETS["METRICS_TOKEN"]
    settings.LOG_REQUESTS = True
    settings.SEARCH_BACKEND = {
        "BACKEND": "assistant.search.tavily.TavilySearch",
        "OPTIONS": {
            "api_key": SECRETS["TAVILY_API_KEY"],
            "base_url": fake_openai.url,
            "timeout": 2,
        },
    }
    return settings


def use_openai(settings, fake_openai) -> None:
    settings.LLM_BACKEND = {
        "BACKEND": "assistant.backends.openai.OpenAIBackend",
        "OPTIONS": {
            "api_key": SECRETS["OPENAI_API_KEY"],
            "base_url": fake_openai.base_url,
            "model": "gpt-test",
            "image_model": "dall-e-3",
            "timeout": 5,
            "max_retries": 0,
        },
    }


def use_azure(settings, fake_openai) -> None:
    settings.LLM_BACKEND = {
        "BACKEND": "assistant.backends.azure.AzureOpenAIBackend",
        "OPTIONS": {
            "endpoint": fake_openai.url,
            "api_key": SECRETS["AZURE_OPENAI_API_KEY"],
            "deployment": "kaiwa-gpt4o",
            "api_version": "2025-01-01-preview",
            "image_endpoint": fake_openai.url,
            "image_api_key": SECRETS["AZURE_OPENAI_IMAGE_API_KEY"],
            "image_deployment": "dall-e-3",
            "timeout": 5,
            "max_retries": 0,
        },
    }


def _logged(caplog) -> str:
    """Every record as the JSON formatter writes it, plus all of its attributes."""
    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter

    options = settings.LOGGING["formatters"]["json"]
    formatter = JsonFormatter(options["fmt"], rename_fields=options["rename_fields"])
    return "\n".join(
        formatter.format(r) + json.dumps(r.__dict__, default=str) for r in caplog.records
    )


@pytest.mark.parametrize("provider", ["openai", "azure"])
def test_a_failing_upstream_call_leaks_no_key(provider, secret_settings, fake_openai, caplog):
    (use_openai if provider == "openai" else use_azure)(secret_settings, fake_openai)
    key = SECRETS["OPENAI_API_KEY" if provider == "openai" else "AZURE_OPENAI_API_KEY"]
    user = UserFactory(username="keyholder")
    client = APIClient()
    client.force_authenticate(user)
    caplog.set_level(logging.DEBUG)

    answers = []
    for path, body in [
        ("/api/chat/", {"message": "鍵は？"}),
        ("/api/analyze/", {"text": "鍵は？"}),
        ("/api/assistant/", {"message": "鍵は？"}),
        ("/api/images/", {"prompt": "鍵", "size": "1024x1024"}),
    ]:
        fake_openai.enqueue(_echoing_error(key))
        if path == "/api/images/":
            image_key = SECRETS.get(
                "AZURE_OPENAI_IMAGE_API_KEY" if provider == "azure" else "OPENAI_API_KEY"
            )
            fake_openai.enqueue_image(_echoing_error(image_key))
        response = client.post(path, body, format="json")
        assert response.status_code >= 400, (path, response.content[:200])
        answers.append(response.content.decode())

    assert_no_secrets("\n".join(answers), "API answers")
    assert_no_secrets(_logged(caplog), "log records")
    # The stored failure explains itself without the key.
    from conversations.models import Message

    failed = Message.objects.filter(conversation__owner=user, status="failed")
    assert failed.exists()
    for message in failed:
        assert_no_secrets(f"{message.content} {message.error_code} {message.error_text}", "DB")


def test_every_admin_page_api_read_probe_and_schema_is_free_of_secrets(
    secret_settings, fake_openai, owned, caplog
):
    use_openai(secret_settings, fake_openai)
    caplog.set_level(logging.DEBUG)
    # A failed reply in the history, so its error is on the admin and API pages too.
    fake_openai.enqueue(_echoing_error(SECRETS["OPENAI_API_KEY"]))
    owner_api = APIClient()
    owner_api.credentials(HTTP_AUTHORIZATION=f"Bearer {owned.plaintext_token}")
    response = owner_api.post(
        f"/api/conversations/{owned.conversation.id}/messages/", {"content": "x"}, format="json"
    )
    assert response.status_code >= 400
    # The token itself never shows. (Its SHA-512 digest is the row's primary key, so the admin
    # uses it in URLs; it cannot authenticate: tests/security/test_access.py proves that.)
    token_secrets = (owned.plaintext_token,)
    pages: dict[str, str] = {}

    # Every API read of the owner's data.
    for operation in api_operations():
        if operation.method != "get":
            continue
        url = owned.url(operation) if operation.has_object else operation.path
        client = owner_api
        if operation.resource == "tokens":
            client = APIClient()
            client.force_login(owned.user)
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        pages[url] = response_text(response)

    # Probes, metrics, schema and docs.
    anonymous = Client()
    for url, headers in [
        ("/healthz", {}),
        ("/readyz", {"HTTP_ACCEPT": "application/json"}),
        ("/readyz", {"HTTP_ACCEPT": "text/html"}),
        ("/metrics", {"HTTP_AUTHORIZATION": f"Bearer {SECRETS['METRICS_TOKEN']}"}),
        ("/api/schema/", {}),
        ("/api/docs/", {}),
        ("/api/docs/?script=", {}),
    ]:
        response = anonymous.get(url, **headers)
        assert response.status_code == 200, url
        pages[f"{url} {headers}"] = response.content.decode()

    # Every admin changelist, change page and add page, as a superuser.
    staff = Client()
    staff.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    pages["admin index"] = staff.get(reverse("admin:index")).content.decode()
    for model in admin.site._registry:
        opts = model._meta
        base = f"admin:{opts.app_label}_{opts.model_name}"
        response = staff.get(reverse(f"{base}_changelist"))
        assert response.status_code == 200, base
        pages[f"{base} list"] = response.content.decode()
        for obj in model._default_manager.all()[:5]:
            response = staff.get(reverse(f"{base}_change", args=[obj.pk]))
            assert response.status_code == 200, (base, obj.pk)
            pages[f"{base} {obj.pk}"] = response.content.decode()
        try:
            add = staff.get(reverse(f"{base}_add"))
        except NoReverseMatch:
            continue
        if add.status_code == 200:
            pages[f"{base} add"] = add.content.decode()
    assert any("accounts_apitoken" in name for name in pages)

    for where, text in pages.items():
        assert_no_secrets(text, where, extra=token_secrets)
    assert_no_secrets(_logged(caplog), "log records", extra=token_secrets)


async def test_the_event_stream_and_the_server_log_leak_no_key(live, upstream):
    """Over a real daphne process: the SSE error event and the process's own log output."""
    from asgiref.sync import sync_to_async

    from accounts.services import api_token_create
    from tests.live_server import server_env

    key = server_env(upstream)["OPENAI_API_KEY"]
    user = await sync_to_async(UserFactory)(username="streamer")
    _, token = await sync_to_async(api_token_create)(user=user, name="t")
    upstream.enqueue(_echoing_error(key))
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        async with session.post(f"{live.url}/api/chat/stream/", json={"message": "鍵"}) as resp:
            events = await read_sse(resp)
    assert events[-1][1]["type"] == "error"
    assert key not in json.dumps(events)
    log = live.log_path.read_text(errors="replace")
    assert "llm_call" in log  # the call was logged...
    assert key not in log  # ...without the key
