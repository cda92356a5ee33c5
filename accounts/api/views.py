"""Personal API tokens over the API: list, create (shown once), revoke."""

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.response import Response

from accounts import services
from accounts.models import ApiToken


class ApiTokenOutputSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    prefix = serializers.CharField(source="token_key", read_only=True)
    created_at = serializers.DateTimeField(source="created", read_only=True)

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at"]


class ApiTokenCreatedSerializer(ApiTokenOutputSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiTokenOutputSerializer.Meta):
        fields = [*ApiTokenOutputSerializer.Meta.fields, "token"]


class ApiTokenInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class IsSessionUser(permissions.IsAuthenticated):
    """Logged in through the browser session, not through an API token."""

    message = _("API tokens are managed from a logged-in browser session, not with a token.")

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request.auth is None


@extend_schema(tags=["tokens"])
class ApiTokenViewSet(viewsets.GenericViewSet):
    """Tokens are managed from a logged-in session: a token cannot mint more tokens."""

    permission_classes = [IsSessionUser]
    serializer_class = ApiTokenOutputSerializer
    pagination_class = None
    lookup_field = "public_id"
    lookup_url_kwarg = "pk"
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=self.request.user).order_by("-created")

    def list(self, request):
        return Response(ApiTokenOutputSerializer(self.get_queryset(), many=True).data)

    @extend_schema(request=ApiTokenInputSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request):
        data = ApiTokenInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, plaintext = services.api_token_create(
            user=request.user, name=data.validated_data["name"]
        )
        body = ApiTokenOutputSerializer(token).data | {"token": plaintext}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={204: None},
        parameters=[OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH)],
    )
    def destroy(self, request, pk=None):
        services.api_token_revoke(token=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
