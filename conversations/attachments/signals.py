"""An attachment's file goes with its row, however the row goes (its own deletion, its
conversation's, a clear, its owner's), once the deleting transaction has committed."""

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from conversations.models import Attachment


@receiver(post_delete, sender=Attachment, dispatch_uid="kaiwa-attachment-file-delete")
def _delete_file(sender, instance: Attachment, **kwargs) -> None:
    name = instance.file.name
    if not name:
        return
    storage = instance.file.storage
    transaction.on_commit(lambda: storage.delete(name))
