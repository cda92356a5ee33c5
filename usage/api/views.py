"""GET /api/usage/: the caller's spending today and over the last 30 days."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from usage import selectors
from usage.api.serializers import UsageOutputSerializer


@extend_schema(tags=["usage"])
class UsageView(APIView):
    @extend_schema(
        summary="The caller's usage",
        description=(
            "Today's charged tokens and images against the daily limits, and the ledger's "
            "rows (per day, model and kind) of the last 30 days, today included. Days are "
            "in the server's TIME_ZONE. Tokens reserved by turns still running count "
            "against `remaining`."
        ),
        responses=UsageOutputSerializer,
    )
    def get(self, request: Request) -> Response:
        body = {
            "today": selectors.usage_today(user=request.user),
            "days": selectors.usage_records(user=request.user),
        }
        return Response(UsageOutputSerializer(body).data)
