"""Errors of model calls, with API.md's codes. Backends raise these; nothing else leaks out."""

from conversations.errors import DomainError


class LLMError(DomainError):
    """A model call failed after the SDK's own retries."""

    code = "upstream_error"
    status = 502
    default_detail = "The language model provider returned an error."
    # The provider's token figures when it sent them before failing (a streamed usage chunk),
    # so the call is charged what it used: an assistant.backends.base.Usage, or None.
    usage = None


class UpstreamError(LLMError):
    pass


class UpstreamRateLimited(LLMError):
    code = "upstream_rate_limited"
    status = 429
    default_detail = "The language model provider is rate-limiting requests; try again later."


class UpstreamUnavailable(LLMError):
    code = "upstream_unavailable"
    status = 503
    default_detail = "The language model provider could not be reached."


class LLMNotConfigured(LLMError):
    code = "llm_not_configured"
    status = 503
    default_detail = "No usable language model provider is configured."


class UpstreamTimeout(LLMError):
    code = "upstream_timeout"
    status = 504
    default_detail = "The language model provider did not answer in time."


class ContentFiltered(LLMError):
    code = "content_filtered"
    status = 422
    default_detail = "The provider's content filter refused the prompt or the reply."


class ImagesRefused(LLMError):
    """The provider refused a request's image parts (a model that cannot read images, for
    which LLM_VISION_MODELS says otherwise)."""

    code = "vision_unsupported"
    status = 422
    default_detail = (
        "The language model provider refused the image: this model cannot read images "
        "(check LLM_VISION_MODELS)."
    )


ERRORS_BY_CODE: dict[str, type[LLMError]] = {
    cls.code: cls
    for cls in (
        UpstreamError,
        UpstreamRateLimited,
        UpstreamUnavailable,
        LLMNotConfigured,
        UpstreamTimeout,
        ContentFiltered,
        ImagesRefused,
    )
}


def error_from_stored(code: str, text: str) -> LLMError:
    """Rebuild the error of a stored failed reply (an idempotent repeat answers the same)."""
    return ERRORS_BY_CODE.get(code, UpstreamError)(text or None)


class ProviderRejected(LLMError):
    """The provider refused the request as malformed (HTTP 400 or 422): a relayed call's
    parameters, which the caller chose. The message is the provider's own (such refusals
    name a parameter, never a key)."""

    code = "invalid_request"
    status = 400

    def __init__(self, detail=None, *, status: int = 400, param: str | None = None):
        super().__init__(detail)
        self.status = status
        self.param = param
