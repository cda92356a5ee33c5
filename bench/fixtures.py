"""Benchmark data through the Django ORM, run as a subprocess with the server's environment.

    python -m bench.fixtures setup  --n N --tag TAG --out CLIENTS.json [--api-tokens]
    python -m bench.fixtures verify --clients CLIENTS.json --expected-file TEXT --out RESULT.json

`setup` makes N users (created once per database, reused), one new titled conversation per
user, and a logged-in session per user (what `login()` stores; the cookie is sent on the
WebSocket handshake, as tests/live_server.py's `session_cookie` does with the test client);
with `--api-tokens`, also an API token per user, for the OpenAI-compatible route.
`verify` reads back what Kaiwa stored for those conversations: every reply must be
`complete` with exactly the streamed text, and every conversation free again.

A subprocess, not the driver itself: Django settings are process-wide and a matrix run
switches between SQLite and PostgreSQL.
"""

import argparse
import json
import os


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _close_db() -> None:
    """Really close: with psycopg's pool, close() only returns the connection to the pool."""
    from django.db import connections

    for conn in connections.all():
        conn.close()
        close_pool = getattr(conn, "close_pool", None)
        if close_pool is not None:
            close_pool()


def setup(n: int, tag: str, prefix: str = "bench", api_tokens: bool = False) -> list[dict]:
    _django()
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.hashers import make_password

    from accounts.services import api_token_create
    from conversations.models import Conversation

    user_model = get_user_model()
    names = [f"{prefix}-{i:04d}" for i in range(n)]
    # One unusable password for all: hashing 500 real ones would take minutes.
    password = make_password(None)
    user_model.objects.bulk_create(
        [user_model(username=name, password=password) for name in names],
        ignore_conflicts=True,
    )
    users = {u.username: u for u in user_model.objects.filter(username__in=names)}
    conversations = Conversation.objects.bulk_create(
        [
            Conversation(
                owner=users[name],
                title=f"bench {tag} {i}",
                system_prompt=settings.LLM_SYSTEM_PROMPT,
            )
            for i, name in enumerate(names)
        ]
    )
    session_store = import_module(settings.SESSION_ENGINE).SessionStore
    # The backend that logs people in (the first one, django-axes, only watches attempts).
    backend = "django.contrib.auth.backends.ModelBackend"
    clients = []
    for name, conversation in zip(names, conversations, strict=True):
        user = users[name]
        session = session_store()
        session[SESSION_KEY] = user._meta.pk.value_to_string(user)
        session[BACKEND_SESSION_KEY] = backend
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        client = {
            "conversation_id": str(conversation.pk),
            "cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}",
        }
        if api_tokens:
            _, client["token"] = api_token_create(user=user, name=f"bench {tag}")
        clients.append(client)
    _close_db()
    return clients


def verify(clients: list[dict], expected: str) -> dict:
    _django()
    from conversations.models import Conversation, Message

    ids = [c["conversation_id"] for c in clients]
    replies = Message.objects.filter(conversation_id__in=ids, role=Message.Role.ASSISTANT)
    statuses: dict[str, int] = {}
    wrong_content = 0
    for status, content in replies.values_list("status", "content"):
        statuses[status] = statuses.get(status, 0) + 1
        if content != expected:
            wrong_content += 1
    result = {
        "conversations": len(ids),
        "user_messages": Message.objects.filter(
            conversation_id__in=ids, role=Message.Role.USER
        ).count(),
        "replies": sum(statuses.values()),
        "reply_statuses": statuses,
        "replies_not_equal_to_stream": wrong_content,
        "conversations_still_busy": Conversation.objects.filter(
            pk__in=ids, active_turn__isnull=False
        ).count(),
    }
    _close_db()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Benchmark fixtures (run by bench.run).")
    sub = parser.add_subparsers(dest="command", required=True)
    p_setup = sub.add_parser("setup")
    p_setup.add_argument("--n", type=int, required=True)
    p_setup.add_argument("--tag", required=True)
    p_setup.add_argument("--prefix", default="bench", help="user names: PREFIX-0000…")
    p_setup.add_argument("--out", required=True)
    p_setup.add_argument("--api-tokens", action="store_true", help="an API token per user")
    p_verify = sub.add_parser("verify")
    p_verify.add_argument("--clients", required=True)
    p_verify.add_argument("--expected-file", required=True)
    p_verify.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "setup":
        result = setup(args.n, args.tag, args.prefix, args.api_tokens)
    else:
        with open(args.clients, encoding="utf-8") as f:
            clients = json.load(f)
        with open(args.expected_file, encoding="utf-8") as f:
            expected = f.read()
        result = verify(clients, expected)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
