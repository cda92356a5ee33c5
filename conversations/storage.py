"""The storage of attachments: the one generated images use (`STORAGES["images"]`, resolved
when first used; see assistant/storage.py). Kept as its own name because migrations refer
to `conversations.storage.attachments_storage`."""

from assistant.storage import images_storage as attachments_storage

__all__ = ["attachments_storage"]
