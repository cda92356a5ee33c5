"""The storage of attachments: Django's `STORAGES["images"]` (the one generated images use),
resolved when used.

A `FileField` evaluates a callable `storage` once, when its model class is built; the proxy
returned here looks the alias up only when first used, so the storage written to is the one
`STORAGES["images"]` names (tests/conftest.py empties the proxy when a test changes
`STORAGES`, as django.test.signals does for `default_storage`).
"""

from django.core.files.storage import storages
from django.utils.functional import LazyObject

ATTACHMENTS_STORAGE_ALIAS = "images"


class _AttachmentsStorage(LazyObject):
    def _setup(self) -> None:
        self._wrapped = storages[ATTACHMENTS_STORAGE_ALIAS]


_attachments_storage = _AttachmentsStorage()


def attachments_storage() -> _AttachmentsStorage:
    """The `storage` callable of Attachment.file."""
    return _attachments_storage
