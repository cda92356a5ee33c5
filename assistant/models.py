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
    A row is also the image's job (assistant/image_jobs.py): made `pending` by an
    asynchronous request or the generate_image tool, `running` while the provider works,
    then `complete` (with its file), `failed` or `interrupted` (its process died). The
    synchronous POST /api/images/ stores it `complete` at once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        COMPLETE = "complete", _("complete")
        FAILED = "failed", _("failed")
        INTERRUPTED = "interrupted", _("interrupted")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="images"
    )
    prompt = models.TextField(_("prompt"))
    revised_prompt = models.TextField(_("revised prompt"), blank=True)
    size = models.CharField(_("size"), max_length=16)
    model = models.CharField(_("model"), max_length=100, blank=True)
    # Empty until the job is complete.
    file = models.FileField(
        _("file"), storage=images_storage, upload_to=image_upload_to, max_length=200, blank=True
    )
    content_type = models.CharField(_("content type"), max_length=32, blank=True)
    byte_size = models.PositiveIntegerField(_("size in bytes"), default=0)
    # The chat reply whose generate_image tool call made it, if any.
    source_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="images"
    )
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.COMPLETE
    )
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_text = models.TextField(_("error text"), blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The runner's database heartbeat; with assistant.live.liveness it tells a dead runner.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The DAILY_IMAGE_QUOTA day the job counts on (given back if the provider made nothing),
    # and whether the provider's image is already in the usage ledger.
    quota_day = models.DateField(null=True, blank=True)
    charged = models.BooleanField(default=False)

    objects = OwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("generated image")
        verbose_name_plural = _("generated images")
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="image_owner_recent"),
            # Recovery looks for unfinished jobs only.
            models.Index(
                fields=["status"],
                condition=models.Q(status__in=["pending", "running"]),
                name="image_job_unfinished",
            ),
        ]
        constraints = [
            # A complete image has a type we serve; an unfinished or failed one has none.
            models.CheckConstraint(
                condition=(
                    models.Q(status="complete", content_type__in=list(IMAGE_CONTENT_TYPES))
                    | (~models.Q(status="complete") & models.Q(content_type=""))
                ),
                name="generated_image_content_type",
            ),
        ]

    def __str__(self) -> str:
        return self.prompt[:50]

    def get_file_url(self) -> str:
        """Our own owner-only file URL (never the provider's)."""
        return reverse("image-file", kwargs={"pk": self.pk})

    @property
    def is_finished(self) -> bool:
        return self.status not in (self.Status.PENDING, self.Status.RUNNING)
