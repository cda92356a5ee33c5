"""The guide's LLMApiClient in Chromium, on a page served from another origin: it works when
that origin is in Kaiwa's CORS_ALLOWED_ORIGINS and is refused by the browser when it is not.

The page is served by a tiny static HTTP server on its own port (another origin than Kaiwa's)
and imports the client from Kaiwa's static URL, as a React/Vue app would.
"""

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from accounts.services import api_token_create
from conversations.models import Conversation
from tests.browser.conftest import TIMEOUT_MS, db
from tests.factories import UserFactory
from tests.fakes.openai_server import reply
from tests.live_server import session_cookie

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>another origin</title></head>
<body>
<script type="module">
  import {{ LLMApiClient }} from '{kaiwa}/static/kaiwa/llmapi.js';
  window.LLMApiClient = LLMApiClient;
  document.body.dataset.ready = 'yes';
</script>
</body></html>
"""

# Runs in the page: the guide's calls, in the guide's names, against Kaiwa.
USE_CLIENT = """async ([kaiwa, token]) => {
  const client = new window.LLMApiClient(kaiwa, { token });
  const first = await client.chat('こんにちは！');
  const chunks = [];
  const streamed = await client.streamChat('長い文章を書いてください', (data) => {
    chunks.push({ type: data.type, content: data.content ?? null });
  });
  client.clearHistory();
  const fresh = await client.chat('新しい話');
  return { first, chunks, streamed, fresh };
}"""

# Runs in the page: the same call, and what the browser says when it refuses.
REFUSED_CALL = """async ([kaiwa, token]) => {
  const client = new window.LLMApiClient(kaiwa, { token });
  try {
    await client.chat('こんにちは！');
    return { refused: false };
  } catch (error) {
    return { refused: true, name: error.name, message: String(error.message) };
  }
}"""

# Runs in the page: a session-cookie call (no token) with credentials: 'include'.
COOKIE_CALL = """async (kaiwa) => {
  try {
    const response = await fetch(`${kaiwa}/api/conversations/`, { credentials: 'include' });
    return { refused: false, status: response.status };
  } catch (error) {
    return { refused: true, name: error.name };
  }
}"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture
def other_origin(tmp_path):
    """A static HTTP server on another 127.0.0.1 port; write pages into its directory."""
    handler = functools.partial(_QuietHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.root = tmp_path
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def cors_kaiwa(spawn_kaiwa, other_origin):
    """A Kaiwa process that allows http://127.0.0.1:<other_origin's port> (only)."""
    port = other_origin.server_address[1]
    kaiwa = spawn_kaiwa("cors", CORS_ALLOWED_ORIGINS=f"http://127.0.0.1:{port}")
    (other_origin.root / "app.html").write_text(PAGE.format(kaiwa=kaiwa.url), encoding="utf-8")
    return kaiwa


async def _open_app(browser, origin: str):
    context = await browser.new_context(locale="ja-JP")
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    await page.goto(f"{origin}/app.html")
    await page.wait_for_selector("body[data-ready=yes]", state="attached")
    return context, page, console


async def test_llmapi_client_from_an_allowed_origin(browser, cors_kaiwa, other_origin, upstream):
    user = await db(UserFactory, username="taro")
    _, token = await db(api_token_create, user=user, name="llmapi")
    text = "ストリームで届く長い文章です。"
    pieces = ["ストリーム", "で届く", "長い", "文章です。"]
    upstream.enqueue(reply("最初の返事です。"))
    upstream.enqueue(reply(text, chunks=pieces, interval=0.05))
    origin = f"http://127.0.0.1:{other_origin.server_address[1]}"
    context, page, _ = await _open_app(browser, origin)
    try:
        assert page.url.startswith(origin) and not cors_kaiwa.url.startswith(origin)
        result = await page.evaluate(USE_CLIENT, [cors_kaiwa.url, token])
    finally:
        await context.close()

    assert result["first"]["message"] == "最初の返事です。"
    conversation_id = result["first"]["conversation_id"]
    # streamChat: the chunks arrive through onChunk, in the guide's event shapes.
    types = [chunk["type"] for chunk in result["chunks"]]
    assert types[0] == "start" and types[-1] == "done"
    contents = [c["content"] for c in result["chunks"] if c["type"] == "message"]
    assert len(contents) >= 2, result["chunks"]  # streamed, not one block at the end
    assert "".join(contents) == text
    # One client keeps one conversation; clearHistory() leaves it for a new one.
    assert result["streamed"]["conversationId"] == conversation_id
    assert result["streamed"]["finished"] and result["streamed"]["content"] == text
    assert result["fresh"]["conversation_id"] != conversation_id
    assert result["fresh"]["message"] == "echo: 新しい話"

    stored = await db(
        lambda: {
            str(c.id): [m.content for m in c.messages.order_by("created_at")]
            for c in Conversation.objects.filter(owner=user)
        }
    )
    assert stored[conversation_id] == [
        "こんにちは！",
        "最初の返事です。",
        "長い文章を書いてください",
        text,
    ]
    assert len(stored) == 2


async def test_llmapi_client_from_an_origin_not_allowed_is_refused_by_the_browser(
    browser, cors_kaiwa, other_origin
):
    user = await db(UserFactory, username="jiro")
    _, token = await db(api_token_create, user=user, name="llmapi")
    # localhost:PORT is another origin than the allowed 127.0.0.1:PORT (same server, same page).
    origin = f"http://localhost:{other_origin.server_address[1]}"
    context, page, console = await _open_app(browser, origin)
    try:
        result = await page.evaluate(REFUSED_CALL, [cors_kaiwa.url, token])
    finally:
        await context.close()

    # fetch() rejects with a network error (a TypeError), never an HTTP answer the page can read.
    assert result == {"refused": True, "name": "TypeError", "message": "Failed to fetch"}
    assert any("blocked by CORS policy" in line for line in console), console
    # The preflight was refused, so the POST was never sent: nothing was stored or spent.
    assert await db(Conversation.objects.filter(owner=user).count) == 0


async def test_a_session_cookie_is_never_usable_from_an_allowed_origin(
    browser, cors_kaiwa, other_origin
):
    user = await db(UserFactory, username="saburo")
    origin = f"http://127.0.0.1:{other_origin.server_address[1]}"
    context, page, console = await _open_app(browser, origin)
    try:
        name, value = (await db(session_cookie, user)).split("=", 1)
        await context.add_cookies([{"name": name, "value": value, "url": cors_kaiwa.url}])
        result = await page.evaluate(COOKIE_CALL, cors_kaiwa.url)
    finally:
        await context.close()

    # Kaiwa never answers Access-Control-Allow-Credentials, so the browser withholds the answer.
    assert result == {"refused": True, "name": "TypeError"}
    assert any("Access-Control-Allow-Credentials" in line for line in console), console
