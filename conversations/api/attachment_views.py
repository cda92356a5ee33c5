"""Attachments API: upload to a conversation, fetch the file, delete one not yet sent.

Thin: the rules are conversations.attachments' (files: what is accepted; services: storing,
deleting, what a send may carry).
"""

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant.attachment_context import attachment_tokens
from assistant.limits import SendThrottle
from config.json_input import JSONParser
from conversations.api.serializers import AttachmentSerializer, AttachmentUploadOutputSerializer
from conversations.attachments.services import (
    attachment_create,
    attachment_delete,
    attachment_json,
)
from conversations.errors import InvalidInput
from conversations.models import Attachment, Conversation

# Served inline (an <img> shows them); every other type is a download.
_INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})


def upload_json(attachment: Attachment) -> dict:
    """The upload's answer: the attachment, its page count, and its cost in tokens."""
    body = attachment_json(attachment)
    del body["included_note"]
    body["tokens"] = attachment_tokens(attachment)
    return body


@extend_schema(tags=["attachments"])
class AttachmentUploadView(APIView):
    """POST /api/conversations/{id}/attachments/: one file (multipart, field `file`)."""

    # JSON is read too, only to answer a body that is not a file with the usual 400.
    parser_classes = [MultiPartParser, JSONParser]
    # Each upload is decoded and read at once (Pillow, pypdf): a rate of its own.
    throttle_classes = [SendThrottle]
    throttle_scope = "attachments"

    @extend_schema(
        request=inline_serializer("AttachmentUpload", {"file": serializers.FileField()}),
        responses={201: AttachmentUploadOutputSerializer},
    )
    def post(self, request, pk):
        conversation = generics.get_object_or_404(
            Conversation.objects.for_user(request.user), pk=pk
        )
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput("Send the file as multipart/form-data in the field 'file'.")
        attachment = attachment_create(user=request.user, conversation=conversation, upload=upload)
        return Response(upload_json(attachment), status=status.HTTP_201_CREATED)


def owned_attachment(request, pk) -> Attachment:
    attachment = Attachment.objects.for_user(request.user).filter(pk=pk).first()
    if attachment is None:
        raise Http404
    return attachment


@extend_schema(tags=["attachments"])
class AttachmentDetailView(APIView):
    """GET /api/attachments/{id}/: the attachment; DELETE: remove it while it is unsent."""

    @extend_schema(responses=AttachmentSerializer)
    def get(self, request, pk):
        return Response(attachment_json(owned_attachment(request, pk)))

    @extend_schema(
        responses={
            204: None,
            409: OpenApiResponse(description="attachment_in_use: sent with a message"),
        }
    )
    def delete(self, request, pk):
        attachment_delete(attachment=owned_attachment(request, pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["attachments"])
class AttachmentFileView(APIView):
    """GET /api/attachments/{id}/file/: the stored bytes, for their owner only (anyone else,
    anonymous clients included, gets 404, as for generated images). Images are shown
    inline; documents are downloads."""

    permission_classes = [AllowAny]

    def perform_content_negotiation(self, request, force=False):
        # An <img> asks for image/*; the only other answer is a JSON error, so never 406.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY}
        | {404: OpenApiResponse(description="not_found: not yours, or no such attachment")}
    )
    def get(self, request, pk):
        attachment = owned_attachment(request, pk)
        try:
            handle = attachment.file.open("rb")
        except FileNotFoundError:
            raise Http404 from None
        inline = attachment.content_type in _INLINE_TYPES
        response = FileResponse(
            handle,
            content_type=attachment.content_type,
            as_attachment=not inline,
            filename=attachment.name,
        )
        response["X-Content-Type-Options"] = "nosniff"
        # Nothing a document holds may run on our origin, even if a browser renders it.
        response["Content-Security-Policy"] = "sandbox"
        # Owner-only: browsers may keep it, shared caches must not.
        response["Cache-Control"] = "private, max-age=86400"
        return response
