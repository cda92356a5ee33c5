"""A deactivated user's stored sessions are deleted, not only refused.

accounts.revocation already ends their open sockets and streams, and Django refuses a
session of an inactive user on every request. Deleting the sessions too means that
re-activating the account later does not bring the old browsers back in: they must sign in
again (through the provider, with SSO, which checks the allow-lists again).
"""

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.module_loading import import_module

# Engines whose sessions are rows Kaiwa can list; the cache and signed-cookie engines keep
# none (their sessions of an inactive user are still refused on every request).
_LISTABLE_ENGINES = (
    "django.contrib.sessions.backends.db",
    "django.contrib.sessions.backends.cached_db",
)


def user_sessions_end(*, user_id) -> int:
    """Delete every stored session of `user_id`; returns how many.

    Session rows are not indexed by user, so this reads the unexpired ones: fine for an
    action staff take now and then, not for a hot path.
    """
    if settings.SESSION_ENGINE not in _LISTABLE_ENGINES:
        return 0
    store = import_module(settings.SESSION_ENGINE).SessionStore
    wanted = str(user_id)
    ended = 0
    rows = Session.objects.filter(expire_date__gt=timezone.now()).only(
        "session_key", "session_data"
    )
    for row in rows.iterator(chunk_size=500):
        if str(row.get_decoded().get(SESSION_KEY)) == wanted:
            store(row.session_key).delete()  # the cache's copy too (cached_db)
            ended += 1
    return ended


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="kaiwa-deactivation-pre")
def _remember_was_active(sender, instance, update_fields=None, **kwargs) -> None:
    if instance.pk is None or instance.is_active:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    # One read, only when a save would leave the user inactive.
    was = sender.objects.filter(pk=instance.pk).values_list("is_active", flat=True).first()
    instance._kaiwa_deactivated = bool(was)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="kaiwa-deactivation-post")
def _end_sessions_of_deactivated(sender, instance, created, **kwargs) -> None:
    if getattr(instance, "_kaiwa_deactivated", False):
        instance._kaiwa_deactivated = False
        transaction.on_commit(lambda: user_sessions_end(user_id=instance.pk))
