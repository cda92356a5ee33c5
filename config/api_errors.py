"""The one place where errors become HTTP answers: `{"detail": "...", "code": "..."}`.

DRF validation errors keep their usual field-error shape (API.md); everything else,
including Django's own 400/404/500 under /api/, answers the same JSON shape.
"""

import math

from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from conversations.errors import DomainError

# DRF's codes renamed to API.md's table.
_CODES = {
    "not_authenticated": "not_authenticated",
    "authentication_failed": "not_authenticated",
    "parse_error": "invalid",
    "not_found": "not_found",
    "throttled": "throttled",
}


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: domain errors and DRF errors in API.md's shape."""
    if isinstance(exc, DomainError):
        return domain_error_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    response = drf_exception_handler(exc, context)
    if response is None or isinstance(exc, exceptions.ValidationError):
        return response
    code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
    if not isinstance(code, str):
        code = "error"
    detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
    response.data = {"detail": str(detail), "code": _CODES.get(code, code)}
    return response


def domain_error_response(exc: DomainError) -> Response:
    response = Response({"detail": exc.detail, "code": exc.code}, status=exc.status)
    if exc.retry_after is not None:
        response["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    return response


def _json_error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


# Django's handler400/404/500: JSON under /api/, the usual pages elsewhere.
def bad_request(request, exception=None):
    if _is_api(request):
        return _json_error(
            400, "invalid", "The request could not be read (malformed or too large)."
        )
    from django.views.defaults import bad_request as html_bad_request

    return html_bad_request(request, exception)


def page_not_found(request, exception=None):
    if _is_api(request):
        return _json_error(404, "not_found", "Not found.")
    from django.views.defaults import page_not_found as html_page_not_found

    return html_page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return _json_error(500, "server_error", "Internal server error.")
    from django.views.defaults import server_error as html_server_error

    return html_server_error(request)
