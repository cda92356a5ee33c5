"""Domain errors: each carries the machine code and HTTP status that API.md gives it.

They are mapped to HTTP in one place (config.api_errors) and to WebSocket/SSE error
events by the streaming code, so every interface reports the same code.
"""


class DomainError(Exception):
    """A failure the client can act on; `code` is API.md's machine code."""

    code = "error"
    status = 400
    default_detail = "The request could not be completed."

    def __init__(self, detail: str | None = None, *, retry_after: float | None = None) -> None:
        self.detail = detail or self.default_detail
        self.retry_after = retry_after
        super().__init__(self.detail)


class InvalidInput(DomainError):
    code = "invalid"
    status = 400
    default_detail = "The request is not valid."


class NotFound(DomainError):
    code = "not_found"
    status = 404
    default_detail = "Not found."


class TurnInProgress(DomainError):
    code = "turn_in_progress"
    status = 409
    default_detail = "A reply is already being generated in this conversation."
