"""The storage of generated images: Django's `STORAGES["images"]`, resolved when used.

A `FileField` evaluates a callable `storage` once, when its model class is built; the proxy
returned here looks the alias up only when first used, so the storage written to is the one
`STORAGES["images"]` names (tests/conftest.py empties the proxy when a test changes
`STORAGES`, as django.test.signals does for `default_storage`).
"""

from django.core.files.storage import storages
from django.utils.functional import LazyObject

IMAGES_STORAGE_ALIAS = "images"


class _ImagesStorage(LazyObject):
    def _setup(self) -> None:
        self._wrapped = storages[IMAGES_STORAGE_ALIAS]


_images_storage = _ImagesStorage()


def images_storage() -> _ImagesStorage:
    """The `storage` callable of GeneratedImage.file."""
    return _images_storage
