"""The storage of generated images: Django's `STORAGES["images"]`, resolved when used.

A `FileField` evaluates a callable `storage` once, when its model class is built; the proxy
returned here looks the alias up again after `STORAGES` changes (tests point it at a
temporary folder), so the alias in settings is always the one written to.
"""

from django.core.files.storage import storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty

IMAGES_STORAGE_ALIAS = "images"


class _ImagesStorage(LazyObject):
    def _setup(self) -> None:
        self._wrapped = storages[IMAGES_STORAGE_ALIAS]


_images_storage = _ImagesStorage()


def images_storage() -> _ImagesStorage:
    """The `storage` callable of GeneratedImage.file."""
    return _images_storage


@receiver(setting_changed)
def _reset_on_storages_changed(*, setting: str, **kwargs: object) -> None:
    if setting == "STORAGES":
        _images_storage._wrapped = empty
