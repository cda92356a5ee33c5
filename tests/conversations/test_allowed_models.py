"""LLM_MODELS: which models a conversation may use, GET /api/models/, and the CRUD API
refusing any other model."""

import json
import subprocess
import sys
from html.parser import HTMLParser

import pytest

from conversations import allowed_models
from conversations.allowed_models import AllowedModel, parse_llm_models
from conversations.errors import InvalidInput
from conversations.models import Conversation
from conversations.services import conversation_create, conversation_update
from tests.config.test_settings import ROOT, _settings_in_subprocess
from tests.factories import ConversationFactory, UserFactory

TWO_MODELS = "gpt-4o-mini=GPT-4o mini,gpt-4o=GPT-4o（高精度）"


def test_entries_keep_their_order_and_a_bare_id_is_its_own_label():
    assert parse_llm_models(" gpt-4o-mini = GPT-4o mini , my-deployment,o3=o3 = reasoning") == (
        AllowedModel("gpt-4o-mini", "GPT-4o mini"),
        AllowedModel("my-deployment", "my-deployment"),
        AllowedModel("o3", "o3 = reasoning"),
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("gpt-4o,,o3", "entry 2"),
        ("gpt-4o,", "entry 2"),
        ("=GPT-4o", "no model id"),
        ("gpt-4o=", "no label"),
        ("gpt 4o=GPT-4o", "no spaces"),
        ("gpt-4o,o3,gpt-4o=Again", "repeats"),
        ("m" * 101, "at most 100"),
    ],
)
def test_malformed_entries_are_refused_with_the_entry_named(text, complaint):
    with pytest.raises(ValueError, match=complaint):
        parse_llm_models(text)


def test_unset_allows_the_providers_own_model(settings):
    settings.LLM_MODELS = ""
    settings.LLM_BACKEND = {"BACKEND": "x.Azure", "OPTIONS": {"deployment": "prod-gpt4o"}}
    assert allowed_models.allowed_models() == (AllowedModel("prod-gpt4o", "prod-gpt4o"),)
    settings.LLM_BACKEND = {"BACKEND": "x.OpenAI", "OPTIONS": {"model": "llama3.1"}}
    assert allowed_models.default_model() == "llama3.1"
    settings.LLM_BACKEND = {"BACKEND": "x.Demo", "OPTIONS": {"token_delay": 0}}
    assert allowed_models.default_model() == "demo"


def test_the_first_entry_is_the_default_and_a_retired_model_falls_back_to_it(settings):
    settings.LLM_MODELS = TWO_MODELS
    assert allowed_models.default_model() == "gpt-4o-mini"
    assert allowed_models.model_for_turn("gpt-4o") == "gpt-4o"
    assert allowed_models.model_for_turn("") == "gpt-4o-mini"
    assert allowed_models.model_for_turn("gpt-3.5-turbo") == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"AZURE_OPENAI_ENDPOINT": "https://r.openai.azure.com", "AZURE_OPENAI_API_KEY": "k",
             "AZURE_OPENAI_DEPLOYMENT_NAME": "chat-prod"},
            [["chat-prod", "chat-prod"]],
        ),
        ({"OPENAI_BASE_URL": "http://ollama:11434/v1", "OPENAI_MODEL": "qwen2.5"},
         [["qwen2.5", "qwen2.5"]]),
        ({}, [["demo", "demo"]]),
        ({"OPENAI_API_KEY": "k", "LLM_MODELS": TWO_MODELS},
         [["gpt-4o-mini", "GPT-4o mini"], ["gpt-4o", "GPT-4o（高精度）"]]),
    ],
)  # fmt: skip
def test_default_comes_from_the_environment_of_the_active_provider(env, expected):
    cleared = {
        name: ""
        for name in ("LLM_PROVIDER", "LLM_MODELS", "AZURE_OPENAI_ENDPOINT", "OPENAI_API_KEY",
                     "OPENAI_BASE_URL")
    }  # fmt: skip
    result = _settings_in_subprocess(
        {**cleared, **env},
        "[[m.id, m.label] for m in __import__('conversations.allowed_models', "
        "fromlist=['x']).allowed_models()]",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


def test_manage_py_check_names_a_malformed_llm_models():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**_clean_env(), "LLM_MODELS": "gpt-4o,,o3"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "kaiwa.E040" in result.stderr and "LLM_MODELS" in result.stderr


def _clean_env() -> dict[str, str]:
    import os

    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL") and not k.startswith(("LLM_", "OPENAI_"))
    } | {"DJANGO_SETTINGS_MODULE": "config.settings"}


# --- GET /api/models/ ----------------------------------------------------------------------


@pytest.mark.django_db
def test_models_endpoint_lists_them_in_order_with_the_default_marked(api_client, settings):
    settings.LLM_MODELS = TWO_MODELS
    response = api_client.get("/api/models/")
    assert response.status_code == 200
    assert response.json() == {
        "results": [
            {"id": "gpt-4o-mini", "label": "GPT-4o mini", "default": True},
            {"id": "gpt-4o", "label": "GPT-4o（高精度）", "default": False},
        ]
    }


@pytest.mark.django_db
def test_models_endpoint_without_llm_models_lists_the_providers_model(api_client):
    assert api_client.get("/api/models/").json() == {
        "results": [{"id": "demo", "label": "demo", "default": True}]
    }


@pytest.mark.django_db
def test_models_endpoint_needs_credentials(client, session_client):
    response = client.get("/api/models/")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    assert session_client.get("/api/models/").status_code == 200


# --- create and PATCH ----------------------------------------------------------------------


@pytest.fixture
def two_models(settings):
    settings.LLM_MODELS = TWO_MODELS


@pytest.mark.django_db
def test_create_accepts_an_allowed_model_and_empty_for_the_default(api_client, two_models):
    chosen = api_client.post("/api/conversations/", {"model": "gpt-4o"}, format="json")
    default = api_client.post("/api/conversations/", {"model": ""}, format="json")
    assert chosen.status_code == 201 and chosen.json()["model"] == "gpt-4o"
    assert default.status_code == 201 and default.json()["model"] == ""


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["gpt-4-32k", "GPT-4O", "gpt-4o-mini=GPT-4o mini", "x" * 101])
def test_create_refuses_a_model_not_offered(api_client, two_models, model):
    response = api_client.post("/api/conversations/", {"title": "t", "model": model}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"model"}
    assert not Conversation.objects.exists()


@pytest.mark.django_db
def test_patch_refuses_a_model_not_offered_and_keeps_the_stored_one(api_client, user, two_models):
    conversation = ConversationFactory(owner=user, model="gpt-4o", title="before")
    url = f"/api/conversations/{conversation.id}/"
    refused = api_client.patch(url, {"model": "gpt-4-32k", "title": "after"}, format="json")
    assert refused.status_code == 400 and "model" in refused.json()
    conversation.refresh_from_db()
    assert (conversation.model, conversation.title) == ("gpt-4o", "before")

    accepted = api_client.patch(url, {"model": "gpt-4o-mini"}, format="json")
    assert accepted.status_code == 200 and accepted.json()["model"] == "gpt-4o-mini"
    conversation.refresh_from_db()
    assert conversation.model == "gpt-4o-mini"


@pytest.mark.django_db
def test_services_refuse_a_model_not_offered_whoever_calls_them(user, two_models):
    with pytest.raises(InvalidInput) as refused:
        conversation_create(owner=user, model="gpt-4-32k")
    assert refused.value.code == "invalid"
    conversation = conversation_create(owner=user, model="gpt-4o")
    with pytest.raises(InvalidInput):
        conversation_update(conversation=conversation, model="gpt-4-32k")
    conversation.refresh_from_db()
    assert conversation.model == "gpt-4o"


# --- the settings dialog of the chat page --------------------------------------------------


class _ModelOptions(HTMLParser):
    """(value, text, selected) of each <option> of the settings dialog's model <select>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.options: list[list] = []
        self._in_select = False

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        if tag == "select" and names.get("name") == "model":
            self._in_select = True
        elif tag == "option" and self._in_select:
            self.options.append([names.get("value"), "", "selected" in names])

    def handle_endtag(self, tag):
        if tag == "select":
            self._in_select = False

    def handle_data(self, data):
        if self._in_select and self.options:
            self.options[-1][1] += data.strip()


@pytest.mark.django_db
@pytest.mark.parametrize(("stored", "selected"), [("gpt-4o", "gpt-4o"), ("", "gpt-4o-mini"),
                                                  ("gpt-4-32k", "gpt-4o-mini")])  # fmt: skip
def test_settings_dialog_offers_the_allowed_models_by_label(
    client, user, two_models, stored, selected
):
    conversation = ConversationFactory(owner=user, model=stored)
    client.force_login(user)
    page = _ModelOptions()
    page.feed(client.get(f"/c/{conversation.id}/", headers={"accept-language": "en"}).text)
    assert [(value, text) for value, text, _ in page.options] == [
        ("gpt-4o-mini", "GPT-4o mini (default)"),
        ("gpt-4o", "GPT-4o（高精度）"),
    ]
    assert [value for value, _, chosen in page.options if chosen] == [selected]


@pytest.mark.django_db
def test_admin_offers_only_the_allowed_models(rf, user, two_models):
    from django.contrib import admin

    conversation = ConversationFactory(owner=user, model="gpt-4o")
    request = rf.get("/admin/")
    request.user = UserFactory(username="staff", is_staff=True, is_superuser=True)
    model_admin = admin.site._registry[Conversation]
    form_class = model_admin.get_form(request, conversation)
    fields = {"title": "t", "system_prompt": "s", "temperature": "", "max_tokens": ""}

    refused = form_class(data={**fields, "model": "gpt-4-32k"}, instance=conversation)
    assert not refused.is_valid() and "model" in refused.errors
    accepted = form_class(data={**fields, "model": "gpt-4o-mini"}, instance=conversation)
    assert accepted.is_valid(), accepted.errors
    accepted.save()
    conversation.refresh_from_db()
    assert conversation.model == "gpt-4o-mini"
    assert [value for value, _ in form_class().fields["model"].choices] == [
        "",
        "gpt-4o-mini",
        "gpt-4o",
    ]
