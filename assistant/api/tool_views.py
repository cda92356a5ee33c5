"""Analyze, smart assistant and images endpoints: thin — validate, call one service, shape."""

from asgiref.sync import async_to_sync
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from assistant.analysis import text_analyze
from assistant.api.awaiting import Awaited, AwaitingAPIView
from assistant.api.tool_serializers import (
    AnalyzeInputSerializer,
    AnalyzeOutputSerializer,
    AssistantInputSerializer,
    AssistantOutputSerializer,
    ImageInputSerializer,
    ImageOutputSerializer,
)
from assistant.image_jobs import (
    image_job_create,
    recover_stale_image_jobs,
    run_image_job_from_thread,
    spawn_image_job_from_thread,
    usual_image_seconds,
)
from assistant.limits import SendThrottle
from assistant.models import IMAGE_CONTENT_TYPES, GeneratedImage
from assistant.smart_assistant import AssistantAnswer, assistant_start
from conversations.api.pagination import NewestFirstCursorPagination
from conversations.api.views import validated_input

_UPSTREAM_ERRORS = {
    502: OpenApiResponse(description="upstream_error: the model's answer was unusable"),
    503: OpenApiResponse(description="llm_not_configured / upstream_unavailable"),
    504: OpenApiResponse(description="upstream_timeout"),
}


class AnalyzeView(APIView):
    """POST /api/analyze/: sentiment, intent, confidence and keywords of a text (not stored)."""

    throttle_classes = [SendThrottle]
    throttle_scope = "analyze"

    @extend_schema(
        request=AnalyzeInputSerializer,
        responses={200: AnalyzeOutputSerializer, **_UPSTREAM_ERRORS},
        tags=["tools"],
    )
    def post(self, request):
        data = validated_input(AnalyzeInputSerializer, request.data)
        analysis = async_to_sync(text_analyze)(user=request.user, text=data["text"])
        return Response(analysis.as_dict())


class AssistantView(AwaitingAPIView):
    """POST /api/assistant/: one message; the model may call a tool. Stored as a conversation."""

    throttle_classes = [SendThrottle]
    throttle_scope = "chat"  # a send like any other: the same bucket as chat and the socket

    @extend_schema(
        request=AssistantInputSerializer,
        responses={200: AssistantOutputSerializer, **_UPSTREAM_ERRORS},
        tags=["tools"],
    )
    def post(self, request):
        data = validated_input(AssistantInputSerializer, request.data)

        def respond(answer: AssistantAnswer) -> Response:
            return Response(
                {
                    "function_used": answer.function_used,
                    "arguments": answer.arguments,
                    "result": answer.result,
                    "response": answer.response,
                    "conversation_id": answer.conversation.pk,
                    "message_id": answer.reply.pk,
                }
            )

        answered = assistant_start(user=request.user, message=data["message"])
        return Response(Awaited(wait=answered, answer=respond))


class ImagesCursorPagination(NewestFirstCursorPagination):
    ordering = ("-created_at", "-id")


@extend_schema(tags=["images"])
class ImageViewSet(viewsets.GenericViewSet):
    """The requesting user's generated images; anyone else's answer 404."""

    serializer_class = ImageOutputSerializer
    pagination_class = ImagesCursorPagination
    throttle_classes = [SendThrottle]  # generating only; reading is never limited
    throttle_scope = "images"
    lookup_value_converter = "uuid"

    def get_queryset(self):
        return GeneratedImage.objects.for_user(self.request.user).order_by("-created_at", "-id")

    def list(self, request):
        # Jobs whose process died show as interrupted, not running forever.
        recover_stale_image_jobs(owner_id=request.user.pk)
        page = self.paginate_queryset(self.get_queryset())
        context = self._job_context(page)
        return self.get_paginated_response(
            ImageOutputSerializer(page, many=True, context=context).data
        )

    @extend_schema(
        request=ImageInputSerializer,
        parameters=[
            OpenApiParameter(
                "Prefer",
                location=OpenApiParameter.HEADER,
                required=False,
                description="`respond-async`: answer 202 with the pending job at once; the "
                "image is made in the background (follow it with GET /api/images/{id}/ or "
                "the `image_job` socket events).",
            )
        ],
        responses={
            201: ImageOutputSerializer,
            202: OpenApiResponse(ImageOutputSerializer, description="The pending job."),
            **_UPSTREAM_ERRORS,
        },
    )
    def create(self, request):
        data = validated_input(ImageInputSerializer, request.data)
        if _prefers_async(request):
            job = image_job_create(user=request.user, prompt=data["prompt"], size=data["size"])
            headers = {"Location": reverse("image-detail", kwargs={"pk": job.pk})}
            if spawn_image_job_from_thread(job.pk):
                headers["Preference-Applied"] = "respond-async"
            else:  # no ASGI loop to run it on (WSGI): it was run here, to its end
                job.refresh_from_db()
            return Response(
                ImageOutputSerializer(job, context=self._job_context([job])).data,
                status=status.HTTP_202_ACCEPTED,
                headers=headers,
            )
        # The same job, waited for: one set of quota and charging rules for both answers.
        job = image_job_create(user=request.user, prompt=data["prompt"], size=data["size"])
        image = run_image_job_from_thread(job.pk)
        return Response(ImageOutputSerializer(image).data, status=status.HTTP_201_CREATED)

    def retrieve(self, request, pk=None):
        image = self.get_object()
        # A job whose process died shows as interrupted, not running forever.
        if not image.is_finished and recover_stale_image_jobs(job_id=image.pk):
            image.refresh_from_db()
        return Response(ImageOutputSerializer(image, context=self._job_context([image])).data)

    def _job_context(self, images) -> dict:
        """The usual duration, read only when an unfinished job is shown."""
        if any(not image.is_finished for image in images):
            return {"usual_seconds": usual_image_seconds(user=self.request.user)}
        return {}


def _prefers_async(request) -> bool:
    """RFC 7240's `Prefer: respond-async` (among other preferences, any case)."""
    preferences = request.headers.get("Prefer", "")
    return any(
        part.split(";")[0].split("=")[0].strip().lower() == "respond-async"
        for part in preferences.split(",")
    )


class ImageFileView(APIView):
    """GET /api/images/{id}/file/: the bytes, for their owner only.

    Anonymous clients get 404 too (not 401): the URL reveals nothing about whether the
    image exists. Token and session authentication both work, so <img> tags in the browser
    and API clients can fetch it.
    """

    permission_classes = [AllowAny]

    def perform_content_negotiation(self, request, force=False):
        # An <img> asks for image/*; the only other answer is a JSON error, so never 406.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        responses={(200, content_type): OpenApiTypes.BINARY for content_type in IMAGE_CONTENT_TYPES}
        | {404: OpenApiResponse(description="not_found: not yours, or no such image")},
        tags=["images"],
    )
    def get(self, request, pk):
        image = GeneratedImage.objects.for_user(request.user).filter(pk=pk).first()
        if image is None:
            raise Http404
        try:
            handle = image.file.open("rb")
        except FileNotFoundError:
            raise Http404 from None
        extension = IMAGE_CONTENT_TYPES.get(image.content_type, "bin")
        response = FileResponse(
            handle,
            content_type=image.content_type,
            as_attachment=False,
            filename=f"image-{image.pk}.{extension}",
        )
        response["X-Content-Type-Options"] = "nosniff"
        # Owner-only: browsers may keep it, shared caches must not.
        response["Cache-Control"] = "private, max-age=86400"
        return response
