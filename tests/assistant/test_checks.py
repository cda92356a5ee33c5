"""`manage.py check` reports LLM misconfiguration by variable name; start-up refuses it."""

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from assistant.backends.demo import DemoBackend
from assistant.checks import run_startup_checks

AZURE = "assistant.backends.azure.AzureOpenAIBackend"
OPENAI = "assistant.backends.openai.OpenAIBackend"
DEMO = "assistant.backends.demo.DemoBackend"


def kaiwa_messages() -> list[checks.CheckMessage]:
    return checks.run_checks(tags=["kaiwa"])


def only_error(messages, check_id: str) -> checks.CheckMessage:
    matching = [m for m in messages if m.id == check_id]
    assert len(matching) == 1, messages
    assert matching[0].level == checks.ERROR
    return matching[0]


def use(settings, provider: str, *, raw: str | None = None, backend=None, **options):
    settings.LLM_PROVIDER = provider
    settings.LLM_PROVIDER_SETTING = provider if raw is None else raw
    settings.LLM_BACKEND = {"BACKEND": backend, "OPTIONS": options}


@pytest.fixture(autouse=True)
def _development_demo(settings):
    """Start every test from the default: development, demo chosen automatically."""
    settings.ENVIRONMENT = "development"
    settings.AZURE_OPENAI_ENDPOINT = ""
    settings.AZURE_OPENAI_IMAGE_ENDPOINT = ""
    settings.OPENAI_BASE_URL = ""
    use(settings, "demo", raw="", backend=DEMO, token_delay=0)


def test_default_configuration_has_no_issues():
    assert kaiwa_messages() == []
    run_startup_checks()  # does not raise


def test_unknown_provider(settings):
    use(settings, "gemini", backend="")

    message = only_error(kaiwa_messages(), "kaiwa.E001")

    assert "LLM_PROVIDER" in message.msg and "gemini" in message.msg


def test_azure_endpoint_without_key(settings):
    settings.AZURE_OPENAI_ENDPOINT = "https://kaiwa.openai.azure.com"
    use(settings, "azure", raw="", backend=AZURE, endpoint="https://kaiwa.openai.azure.com")

    message = only_error(kaiwa_messages(), "kaiwa.E002")

    assert "AZURE_OPENAI_API_KEY" in message.msg


def test_azure_chosen_without_endpoint(settings):
    use(settings, "azure", backend=AZURE, api_key="k")

    assert "AZURE_OPENAI_ENDPOINT" in only_error(kaiwa_messages(), "kaiwa.E011").msg


def test_openai_without_key_or_base_url(settings):
    use(settings, "openai", backend=OPENAI)

    message = only_error(kaiwa_messages(), "kaiwa.E008")

    assert "OPENAI_API_KEY" in message.msg and "OPENAI_BASE_URL" in message.msg


def test_openai_with_only_a_base_url_is_fine(settings):
    settings.OPENAI_BASE_URL = "http://ollama:11434/v1"  # a single-label docker host
    use(settings, "openai", backend=OPENAI, base_url="http://ollama:11434/v1")

    assert kaiwa_messages() == []


@pytest.mark.parametrize(
    "name", ["AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_IMAGE_ENDPOINT", "OPENAI_BASE_URL"]
)
@pytest.mark.parametrize(
    "value", ["kaiwa.openai.azure.com", "ftp://example.com", "https://", "http://h:port/"]
)
def test_malformed_urls(settings, name, value):
    setattr(settings, name, value)

    messages = [m for m in kaiwa_messages() if m.id == "kaiwa.E003"]

    assert len(messages) == 1 and name in messages[0].msg


@pytest.mark.parametrize(
    ("name", "value", "check_id"),
    [
        ("LLM_DEFAULT_TEMPERATURE", 2.5, "kaiwa.E004"),
        ("LLM_DEFAULT_TEMPERATURE", -0.1, "kaiwa.E004"),
        ("LLM_DEFAULT_MAX_TOKENS", 0, "kaiwa.E005"),
        ("LLM_DEFAULT_MAX_TOKENS", 16_385, "kaiwa.E005"),
        ("LLM_REQUEST_TIMEOUT", 0, "kaiwa.E006"),
        ("LLM_REQUEST_TIMEOUT", "thirty", "kaiwa.E006"),
        ("LLM_MAX_RETRIES", -1, "kaiwa.E007"),
        ("LLM_MAX_RETRIES", "many", "kaiwa.E007"),
        ("DEMO_TOKEN_DELAY", -1, "kaiwa.E012"),
    ],
)
def test_parameters_out_of_range(settings, name, value, check_id):
    settings.LLM_MAX_TOKENS_CAP = 16_384
    setattr(settings, name, value)

    assert name in only_error(kaiwa_messages(), check_id).msg


def test_demo_chosen_automatically_in_production_is_an_error(settings):
    settings.ENVIRONMENT = "production"

    message = only_error(kaiwa_messages(), "kaiwa.E009")

    assert "LLM_PROVIDER" in message.msg
    with pytest.raises(SystemCheckError, match="kaiwa.E009"):
        call_command("check", "--tag", "kaiwa")


def test_demo_chosen_explicitly_in_production_is_only_a_warning(settings):
    settings.ENVIRONMENT = "production"
    use(settings, "demo", raw="demo", backend=DEMO, token_delay=0)

    (message,) = kaiwa_messages()

    assert (message.id, message.level) == ("kaiwa.W001", checks.WARNING)
    run_startup_checks()  # a warning does not stop the server


def test_backend_that_cannot_be_built(settings):
    use(settings, "demo", backend="assistant.backends.missing.Backend")

    assert "could not be imported" in only_error(kaiwa_messages(), "kaiwa.E010").msg


def test_startup_refuses_to_run_with_an_error(settings):
    settings.LLM_DEFAULT_TEMPERATURE = 3

    with pytest.raises(SystemCheckError) as caught:
        run_startup_checks()

    assert "kaiwa.E004" in str(caught.value) and "LLM_DEFAULT_TEMPERATURE" in str(caught.value)


def test_secret_values_never_appear_in_messages(settings):
    settings.AZURE_OPENAI_ENDPOINT = "not a url"
    use(settings, "azure", backend=AZURE, endpoint="not a url", api_key="sk-secret-value-123")

    text = "\n".join(str(m) for m in kaiwa_messages())

    assert "AZURE_OPENAI_ENDPOINT" in text
    assert "sk-secret-value-123" not in text


@pytest.mark.parametrize("value", ["gpt-4o,,o3", "gpt-4o=", "=GPT-4o", "gpt-4o,gpt-4o"])
def test_malformed_llm_models(settings, value):
    settings.LLM_MODELS = value

    message = only_error(kaiwa_messages(), "kaiwa.E040")

    assert "LLM_MODELS" in message.msg
    with pytest.raises(SystemCheckError, match="LLM_MODELS"):
        run_startup_checks()


def test_well_formed_llm_models_has_no_issues(settings):
    settings.LLM_MODELS = "gpt-4o-mini=GPT-4o mini,gpt-4o"

    assert kaiwa_messages() == []


@pytest.mark.parametrize("value", ["2025-01-01", "2025-01-01-preview", "v1"])
def test_well_formed_azure_api_versions(settings, value):
    settings.AZURE_OPENAI_API_VERSION = value

    assert kaiwa_messages() == []


@pytest.mark.parametrize("value", ["latest", "2025-1-1", "V1", "2025-01-01-beta"])
def test_malformed_azure_api_version(settings, value):
    settings.AZURE_OPENAI_API_VERSION = value

    assert "AZURE_OPENAI_API_VERSION" in only_error(kaiwa_messages(), "kaiwa.E013").msg


def test_an_option_the_backend_refuses_names_its_variable_never_a_key(settings):
    use(settings, "azure", backend=AZURE, endpoint="https://r.openai.azure.com", api_key=12345)

    message = only_error(kaiwa_messages(), "kaiwa.E010")

    assert "AZURE_OPENAI_API_KEY" in message.msg and "12345" not in message.msg


class ProjectBackend(DemoBackend):
    """A backend of the project's own, with a check of its own."""

    @classmethod
    def check(cls, options):
        if options is None:
            return []
        return [checks.Error(f"PROJECT_LLM_URL is not set ({sorted(options)}).", id="x.E001")]


def test_the_configured_backends_own_check_runs_with_its_options(settings):
    use(settings, "demo", backend=f"{__name__}.ProjectBackend", token_delay=0)

    message = only_error(kaiwa_messages(), "x.E001")

    assert message.msg == "PROJECT_LLM_URL is not set (['token_delay'])."
    assert not [m for m in kaiwa_messages() if m.id == "kaiwa.E010"]  # not built on an error


def test_seed_guide_names_are_reported_with_kaiwas_name(settings):
    settings.SEED_SETTING_ALIASES_SET = [
        ("DEFAULT_TEMPERATURE", "LLM_DEFAULT_TEMPERATURE", False),
        ("MAX_RETRIES", "LLM_MAX_RETRIES", True),
    ]

    warnings = [m for m in kaiwa_messages() if m.id == "kaiwa.W002"]

    assert [m.level for m in warnings] == [checks.WARNING, checks.WARNING]
    read, ignored = warnings
    assert "DEFAULT_TEMPERATURE" in read.msg and "LLM_DEFAULT_TEMPERATURE" in read.hint
    assert "ignored" in ignored.msg and "LLM_MAX_RETRIES" in ignored.msg
    run_startup_checks()  # a warning does not stop the server


def test_title_model_must_be_an_allowed_model(settings):
    settings.LLM_MODELS = "gpt-4o-mini,gpt-4o"
    settings.LLM_TITLE_MODEL = "gpt-4o-mini"
    assert [m for m in kaiwa_messages() if m.id == "kaiwa.E042"] == []

    settings.LLM_TITLE_MODEL = "gpt-3.5"
    message = only_error(kaiwa_messages(), "kaiwa.E042")

    assert "LLM_TITLE_MODEL" in message.msg and "gpt-4o-mini, gpt-4o" in message.hint
