"""Generated images: the bytes live in their own storage alias, served by our own view."""

import uuid
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from assistant.storage import images_storage
from conversations.models import Message, OwnedQuerySet

# The only types we store and serve, with their file extensions.
IMAGE_CONTENT_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


def image_upload_to(instance: "GeneratedImage", filename: str) -> str:
    """A server-generated name; only the extension (chosen by our type check) is kept."""
    extension = PurePath(filename).suffix.lower().lstrip(".")
    return f"{uuid.uuid4().hex}.{extension}"


class GeneratedImage(models.Model):
    """One image generated for a user, downloaded or decoded at once and stored by us.

    Provider URLs expire (60 minutes at OpenAI, 24 hours at Azure), so they are never kept.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images"
    )
    prompt = models.TextField(_("prompt"))
    revised_prompt = models.TextField(_("revised prompt"), blank=True)
    size = models.CharField(_("size"), max_length=16)
    model = models.CharField(_("model"), max_length=100, blank=True)
    file = models.FileField(
        _("file"), storage=images_storage, upload_to=image_upload_to, max_length=200
    )
    content_type = models.CharField(_("content type"), max_length=32)
    byte_size = models.PositiveIntegerField(_("size in bytes"))
    # The chat reply whose generate_image tool call made it, if any.
    source_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("generated image")
        verbose_name_plural = _("generated images")
        indexes = [models.Index(fields=["owner", "-created_at"], name="image_owner_recent")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(content_type__in=list(IMAGE_CONTENT_TYPES)),
                name="generated_image_content_type",
            ),
        ]

    def __str__(self) -> str:
        return self.prompt[:50]

    def get_file_url(self) -> str:
        """Our own owner-only file URL (never the provider's)."""
        return reverse("image-file", kwargs={"pk": self.pk})
