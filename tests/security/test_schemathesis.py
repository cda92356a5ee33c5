"""Schemathesis against the live server's own /api/schema/: no input makes it answer 5xx.

Every operation of the schema gets a bounded number of generated requests (valid and
invalid bodies, odd query strings, random ids), authenticated with a real Bearer token.
An {id} in the path is usually the token owner's real object, so the detail, update and
action endpoints are fuzzed past their 404. The server runs the demo backend (offline,
deterministic, able to call every tool), so chat, analyze, assistant and image calls are
real turns, and any 5xx is Kaiwa's own fault, never an upstream's.
"""

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from tests.factories import ConversationFactory, MessageFactory, SavedNoteFactory, UserFactory
from tests.live_server import KaiwaProcess, server_env

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

MAX_EXAMPLES = 20


@pytest.fixture(scope="module")
def demo_server(django_db_setup, django_db_blocker, upstream):
    """A daphne process of its own with the demo backend, for this module's tests."""
    with django_db_blocker.unblock():
        env = server_env(upstream, LLM_PROVIDER="demo", DEMO_TOKEN_DELAY="0")
    env = {k: v for k, v in env.items() if not k.startswith("OPENAI_")}
    server = KaiwaProcess(env=env, name="schemathesis").start()
    yield server
    server.stop()


@pytest.fixture
def fuzz_user(transactional_db):
    from accounts.services import api_token_create

    user = UserFactory(username="fuzzer")
    conversation = ConversationFactory(owner=user, title="fuzz")
    MessageFactory(conversation=conversation, content="hello")
    reply = MessageFactory(conversation=conversation, role="assistant", content="hi")
    note = SavedNoteFactory(owner=user)
    _, token = api_token_create(user=user, name="fuzz")
    ids = {"conversations": conversation.id, "messages": reply.id, "notes": note.id}
    return token, {k: str(v) for k, v in ids.items()}


def _schema_as_served() -> dict:
    """/api/schema/ as the server renders it (generated here: no server runs at collection)."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated))


schema = schemathesis.openapi.from_dict(_schema_as_served())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the work tree
    derandomize=True,  # the same examples on every run: a failure reproduces
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_the_api_answer_5xx(case, demo_server, fuzz_user):
    token, ids = fuzz_user
    resource = case.operation.path.removeprefix("/api/").split("/", 1)[0]
    if "id" in (case.path_parameters or {}) and resource in ids and case.method != "DELETE":
        case.path_parameters = {**case.path_parameters, "id": ids[resource]}
    response = case.call(
        base_url=demo_server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    case.validate_response(response, checks=[not_a_server_error])
