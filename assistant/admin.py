"""Staff review of generated images: read-only, and no link to the bytes.

The file is served only by the owner-only view; the admin shows its stored name, never a
storage URL.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from assistant.models import GeneratedImage


@admin.register(GeneratedImage)
class GeneratedImageAdmin(admin.ModelAdmin):
    list_display = ["short_prompt", "owner", "status", "size", "model", "byte_size", "created_at"]
    list_select_related = ["owner"]
    list_filter = ["status", "created_at", "model", "size"]
    search_fields = ["prompt", "revised_prompt", "owner__username"]
    date_hierarchy = "created_at"
    fields = [
        "id",
        "owner",
        "prompt",
        "revised_prompt",
        "size",
        "model",
        "content_type",
        "byte_size",
        "stored_as",
        "source_message",
        "status",
        "error_code",
        "error_text",
        "created_at",
        "started_at",
        "finished_at",
        "charged",
    ]
    readonly_fields = fields

    @admin.display(description=_("prompt"))
    def short_prompt(self, image: GeneratedImage) -> str:
        return image.prompt[:80]

    @admin.display(description=_("stored as"))
    def stored_as(self, image: GeneratedImage) -> str:
        return image.file.name

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
