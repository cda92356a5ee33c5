"""Reading a Chat Completions request body: what Kaiwa relays, and what it refuses first."""

import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from assistant.attachment_context import model_reads_images
from assistant.context import estimate_messages_tokens
from assistant.openai_compat.errors import CompatError
from conversations import allowed_models

# The parameters relayed to the provider; anything else is refused as OpenAI refuses an
# unknown argument, before any model call.
RELAYED = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "top_p",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "seed",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "stream",
        "stream_options",
        "user",
        "n",
    }
)
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    body: dict[str, Any]  # what goes to the provider
    model: str
    messages: list[dict[str, Any]]
    stream: bool
    # The client asked for the usage chunk; Kaiwa always asks (the ledger needs the
    # figures) and drops it from the stream when the client did not.
    client_wants_usage: bool

    def reservation_tokens(self) -> int:
        """The quota reservation: the prompt's local estimate (images included) plus the
        answer's bound."""
        answer = (
            self.body.get("max_completion_tokens")
            or self.body.get("max_tokens")
            or settings.LLM_DEFAULT_MAX_TOKENS
        )
        return estimate_messages_tokens(self.messages) + answer


def parse_request(raw: bytes, *, deployment: str | None = None) -> CompletionRequest:
    """The validated request; CompatError (400) for what the provider would reject too."""
    try:
        body = json.loads(raw or b"")
    except ValueError:
        raise CompatError("We could not parse the JSON body of your request.") from None
    if not isinstance(body, dict):
        raise CompatError("The request body must be a JSON object.")
    for name in body:
        if name not in RELAYED:
            raise CompatError(f"Unrecognized request argument supplied: {name}", param=name)
    if body.get("n", 1) not in (1, None):
        raise CompatError("Only n=1 is supported.", param="n")
    body.pop("n", None)
    if deployment is not None:
        body["model"] = deployment  # Azure: the deployment names the model
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise CompatError("you must provide a model parameter", param="model")
    if not allowed_models.is_allowed(model):
        raise CompatError(
            f"The model `{model[:100]}` does not exist or you do not have access to it; "
            "GET /v1/models lists the models you can use.",
            code="model_not_found",
            param="model",
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise CompatError("'messages' must be a non-empty array.", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise CompatError(
                f"messages[{index}] needs a role: one of {', '.join(sorted(ROLES))}.",
                param=f"messages[{index}].role",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise CompatError(
                f"messages[{index}].content must be a string or an array of content parts.",
                param=f"messages[{index}].content",
            )
        if "\x00" in content_text(content):  # the stored conversation cannot hold it
            raise CompatError(
                f"messages[{index}].content contains a NUL character (\\u0000).",
                param=f"messages[{index}].content",
            )
        if isinstance(content, list):
            _check_image_parts(content, index=index, model=model)
    stream = body.get("stream") is True
    options = body.get("stream_options")
    wants_usage = stream and isinstance(options, dict) and options.get("include_usage") is True
    if stream:
        body["stream_options"] = {
            **(options if isinstance(options, dict) else {}),
            "include_usage": True,
        }
    else:
        body.pop("stream_options", None)
    _check_answer_bounds(body)
    return CompletionRequest(
        body=body,
        model=model,
        messages=messages,
        stream=stream,
        client_wants_usage=wants_usage,
    )


def _check_image_parts(parts: list, *, index: int, model: str) -> None:
    """Image parts as OpenAI defines them, `{"type": "image_url", "image_url": {"url",
    "detail"?}}`, relayed as sent; refused for a model that cannot read images
    (LLM_VISION_MODELS) as Kaiwa's own sends are, before any model call."""
    for position, part in enumerate(parts):
        if not isinstance(part, dict) or part.get("type") != "image_url":
            continue
        param = f"messages[{index}].content[{position}].image_url"
        image = part.get("image_url")
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            raise CompatError(f"{param} must be an object with a string 'url'.", param=param)
        if not model_reads_images(model):
            raise CompatError(
                f"The model `{model[:100]}` cannot read images (it is not in LLM_VISION_MODELS).",
                status=422,
                code="vision_unsupported",
                param=param,
            )


def _check_answer_bounds(body: dict[str, Any]) -> None:
    """max_tokens / max_completion_tokens: absent, null or a whole number from 1 to
    LLM_MAX_TOKENS_CAP (the reservation is sized by it)."""
    cap = settings.LLM_MAX_TOKENS_CAP
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= cap:
            raise CompatError(f"'{name}' must be an integer from 1 to {cap}.", param=name)


def content_text(content: Any) -> str:
    """A message's content as stored: the string, or the text parts of a content array
    joined by newlines (other parts, an image say, as a bracketed placeholder)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            parts.append(str(part.get("text") or ""))
        elif isinstance(part, dict):
            parts.append(f"[{part.get('type') or 'part'}]")
    return "\n".join(parts)
