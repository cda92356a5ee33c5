"""Sessions that end, end everywhere.

Open WebSockets and event streams outlive the request that authenticated them. Each joins its
user's channel-layer group (`user.<pk>.auth`). When that user's credentials change — a log-out,
a new password, deactivation or deletion, a revoked API token — one message goes to the group
once the change is committed, and every member re-checks its OWN credentials: the session it
was opened with still exists, still belongs to the user and still carries the user's current
auth hash, the user is still active; or its API token still exists. Only those whose
credentials no longer hold end. So a log-out ends that browser's sockets, a password change
the other browsers' (Django keeps the changing session valid), a deactivation all of them,
and a revoked token only the streams opened with it.

Within a request the message is sent after the response is made (CredentialsChangedMiddleware):
by then Django has flushed the logged-out session or, after a password change, moved the
changing session to a new key. The new key reaches that session's own sockets sealed with the
old key, so it never crosses the channel layer readable.
"""

import hashlib
import logging
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import (
    BACKEND_SESSION_KEY,
    HASH_SESSION_KEY,
    SESSION_KEY,
    get_user_model,
    load_backend,
    user_logged_out,
)
from django.db import transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.module_loading import import_module
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiToken

logger = logging.getLogger("kaiwa.accounts")

MESSAGE_TYPE = "auth.changed"  # the consumer's handler: auth_changed
ENDED = _("You are no longer signed in: the session or API token has ended.")


def user_group(user_id) -> str:
    """The channel-layer group of a user's open sockets and streams."""
    return f"user.{user_id}.auth"


@dataclass
class Credentials:
    """What one socket or stream was authenticated with."""

    user_id: Any
    # Secrets: kept out of the repr, so out of logs and tracebacks.
    session_key: str | None = field(default=None, repr=False)
    token_id: str | None = field(default=None, repr=False)  # an ApiToken's pk (knox's digest)

    @classmethod
    def of_scope(cls, scope) -> "Credentials":
        """A WebSocket's: Channels' session (AuthMiddlewareStack)."""
        session = scope.get("session")
        return cls(user_id=scope["user"].pk, session_key=getattr(session, "session_key", None))

    @classmethod
    def of_request(cls, request) -> "Credentials":
        """A DRF request's: its API token, else its session."""
        if isinstance(request.auth, ApiToken):
            return cls(user_id=request.user.pk, token_id=request.auth.pk)
        return cls(user_id=request.user.pk, session_key=request.session.session_key)

    async def watch(self, layer, channel: str) -> bool:
        """Join the user's group, then check: a change made before the join is not missed."""
        await layer.group_add(user_group(self.user_id), channel)
        return await self.valid()

    async def unwatch(self, layer, channel: str) -> None:
        await layer.group_discard(user_group(self.user_id), channel)

    async def still_valid(self, message: dict[str, Any]) -> bool:
        """Re-check after a group message; follows this session to its new key if it moved."""
        renamed = message.get("renamed")
        if renamed and self.session_key and renamed["from"] == _session_id(self.session_key):
            self.session_key = _unseal(renamed["to"], self.session_key)
        return await self.valid()

    async def valid(self) -> bool:
        """`is_valid`, on the database threads the turns use."""
        from assistant.db_threads import in_db_thread

        return await in_db_thread(self.is_valid)()

    def is_valid(self) -> bool:
        """Database reads only: nothing here changes a session (unlike auth.get_user)."""
        if self.token_id is not None:
            return (
                ApiToken.objects.filter(pk=self.token_id, user_id=self.user_id)
                .filter(user__is_active=True)
                .filter(Q(expiry__isnull=True) | Q(expiry__gt=timezone.now()))
                .exists()
            )
        return self.session_key is not None and _session_user_id(self.session_key) == str(
            self.user_id
        )


def _session_user_id(session_key: str) -> str | None:
    """The id of the user a stored session authenticates, as auth.get_user decides it."""
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
    backend_path = data.get(BACKEND_SESSION_KEY)
    if SESSION_KEY not in data or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return None
    user = load_backend(backend_path).get_user(
        get_user_model()._meta.pk.to_python(data[SESSION_KEY])
    )  # None when the user is gone or inactive
    stored_hash = data.get(HASH_SESSION_KEY)
    if user is None or not stored_hash:
        return None
    hashes = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    if not any(constant_time_compare(stored_hash, h) for h in hashes):
        return None
    return str(user.pk)


# --- telling the group ------------------------------------------------------------------


def credentials_changed(user_id) -> None:
    """Make `user_id`'s open sockets and streams re-check theirs, once this commits."""
    transaction.on_commit(lambda: _changed(user_id))


def _changed(user_id) -> None:
    pending = _pending.get()
    if pending is not None:
        pending.user_ids.add(user_id)  # sent by the middleware once the response is made
    else:
        async_to_sync(_broadcast)({user_id}, None)


async def _broadcast(user_ids: set, renamed: dict[str, str] | None) -> None:
    layer = get_channel_layer()
    message: dict[str, Any] = {"type": MESSAGE_TYPE}
    if renamed:
        message["renamed"] = renamed
    try:
        for user_id in user_ids:
            await layer.group_send(user_group(user_id), message)
    except Exception:
        # The change itself is made (a log-out must not fail on the channel layer); open
        # sockets then end only at the next change that reaches them.
        logger.warning("credentials_change_not_broadcast", exc_info=True)


class _Pending:
    def __init__(self, session_key: str | None) -> None:
        self.session_key = session_key
        self.user_ids: set = set()

    def message_args(self, request) -> tuple[set, dict[str, str] | None]:
        session = getattr(request, "session", None)
        new_key = getattr(session, "session_key", None)
        old_key = self.session_key
        if not (old_key and new_key and old_key != new_key and len(new_key) <= 64):
            return self.user_ids, None
        # The session moved to a new key (update_session_auth_hash after a password change):
        # its sockets follow it. They belong to the session's user, told too. (The session's
        # data, not request.user: that may be unevaluated, a database read on the event loop;
        # the session's data is loaded, since it changed in this request.)
        user_ids = set(self.user_ids)
        session_user = session.get(SESSION_KEY)
        if session_user is not None:
            user_ids.add(get_user_model()._meta.pk.to_python(session_user))
        return user_ids, {"from": _session_id(old_key), "to": _seal(new_key, old_key)}


_pending: ContextVar[_Pending | None] = ContextVar("kaiwa_credentials_changed", default=None)


class CredentialsChangedMiddleware:
    """Sends the request's credential changes once its response is made. Placed before
    SessionMiddleware, so that the session is saved (or flushed) by then."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        pending = _Pending(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
        token = _pending.set(pending)
        try:
            response = self.get_response(request)
        finally:
            _pending.reset(token)
        if pending.user_ids:
            async_to_sync(_broadcast)(*pending.message_args(request))
        return response

    async def __acall__(self, request):
        pending = _Pending(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
        token = _pending.set(pending)
        try:
            response = await self.get_response(request)
        finally:
            _pending.reset(token)
        if pending.user_ids:
            await _broadcast(*pending.message_args(request))
        return response


def _session_id(session_key: str) -> str:
    """Names a session in a message without giving its key."""
    digest = hashlib.blake2b(session_key.encode(), digest_size=16, person=b"kaiwa-sess-id")
    return digest.hexdigest()


def _pad(old_key: str, length: int) -> bytes:
    return hashlib.blake2b(old_key.encode(), digest_size=length, person=b"kaiwa-sess-pad").digest()


def _seal(new_key: str, old_key: str) -> str:
    """The new key, readable only with the old one (a one-time pad derived from it)."""
    raw = new_key.encode()
    return bytes(a ^ b for a, b in zip(raw, _pad(old_key, len(raw)), strict=True)).hex()


def _unseal(sealed: str, old_key: str) -> str:
    raw = bytes.fromhex(sealed)
    return bytes(a ^ b for a, b in zip(raw, _pad(old_key, len(raw)), strict=True)).decode()


# --- what changes credentials ------------------------------------------------------------


@receiver(user_logged_out, dispatch_uid="kaiwa-revocation-logout")
def _logged_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        credentials_changed(user.pk)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="kaiwa-revocation-user-save")
def _user_saved(sender, instance, created, update_fields=None, **kwargs) -> None:
    # Any full save may carry a new password or is_active=False (the admin's forms save the
    # whole user); saves of other fields only (last_login at every log-in) cannot.
    if created or (update_fields is not None and not {"password", "is_active"} & update_fields):
        return
    credentials_changed(instance.pk)


@receiver(post_delete, sender=settings.AUTH_USER_MODEL, dispatch_uid="kaiwa-revocation-user-del")
def _user_deleted(sender, instance, **kwargs) -> None:
    credentials_changed(instance.pk)


@receiver(post_delete, sender=ApiToken, dispatch_uid="kaiwa-revocation-token-delete")
def _token_deleted(sender, instance, **kwargs) -> None:
    credentials_changed(instance.user_id)
