"""Errors in OpenAI's shape, `{"error": {"message", "type", "code", "param"}}`, with the
statuses the official SDKs map to their exception classes (BadRequestError for 400,
AuthenticationError for 401, and so on)."""

import math

from django.http import JsonResponse

from conversations.errors import DomainError

# OpenAI's `type` for each status; the SDKs choose the exception class by status alone.
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "conflict_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class CompatError(Exception):
    """A refusal of a relayed call, answered in OpenAI's shape."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        code: str = "invalid_request",
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param
        self.retry_after = retry_after

    @classmethod
    def from_domain(cls, exc: DomainError) -> "CompatError":
        """Kaiwa's own refusals (quota, throttles, upstream failures) in OpenAI's shape."""
        return cls(
            exc.detail,
            status=exc.status,
            code=exc.code,
            param=getattr(exc, "param", None),
            retry_after=exc.retry_after,
        )

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": _TYPES.get(self.status, "api_error"),
                "code": self.code,
                "param": self.param,
            }
        }

    def response(self) -> JsonResponse:
        response = JsonResponse(self.body(), status=self.status)
        if self.retry_after is not None:
            response["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return response
