"""The `openai` npm package under Node against Kaiwa's /v1 routes (live daphne)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conversations.models import Conversation
from tests.fakes.openai_server import reply

NODE_DIR = Path(__file__).parent / "node"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "openai").is_dir(),
    reason="needs node and `npm ci` in tests/v1/node",
)


def test_the_openai_npm_package_works_against_kaiwa(live, token, upstream):
    user, key = token
    upstream.enqueue(reply("Hi Node", usage=(9, 2)), reply("streamed to Node", usage=(9, 3)))

    result = subprocess.run(
        ["node", "client.mjs", f"{live.url}/v1", key],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    seen = json.loads(result.stdout)
    assert seen["completion"] == "Hi Node"
    assert seen["streamed"] == "streamed to Node"
    assert seen["usage"]["completion_tokens"] == 3
    assert seen["models"] == ["gpt-test", "gpt-test-mini"]
    assert seen["errors"] == {
        "bad_token": {"class": "AuthenticationError", "status": 401, "code": "invalid_api_key"},
        "n2": {"class": "BadRequestError", "status": 400, "code": "invalid_request"},
        "unknown_model": {"class": "BadRequestError", "status": 400, "code": "model_not_found"},
    }
    assert [c.messages.count() for c in Conversation.objects.filter(owner=user)] == [2, 2]
