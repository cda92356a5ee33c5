"""Model calls beside the reply — a conversation's title, a summary of its older history:
small, not streamed, and charged to the usage ledger under their own kind."""

import asyncio

from django.conf import settings

from assistant.backends import get_backend
from assistant.backends.base import ChatMessage, ChatOptions, Usage
from assistant.context import estimate_messages_tokens, estimate_tokens
from assistant.db_threads import in_db_thread
from conversations.allowed_models import model_for_turn
from usage.models import UsageKind
from usage.services import usage_record


def side_call_model() -> str:
    """LLM_TITLE_MODEL when it is an allowed model, else the default model."""
    return model_for_turn(getattr(settings, "LLM_TITLE_MODEL", ""))


async def side_completion(
    *, user, kind: UsageKind, messages: list[ChatMessage], max_tokens: int
) -> str:
    """The model's answer to `messages`, charged to `user` as `kind`.

    A failure (assistant.errors.LLMError) is charged what it carried, if anything, and
    raised for the caller to decide what the answer's absence means.
    """
    backend = get_backend()
    model = side_call_model()
    options = ChatOptions(model=model, temperature=0.3, max_tokens=max_tokens)
    try:
        completion = await backend.complete_chat(messages=messages, options=options)
    except asyncio.CancelledError:
        # Stopped (the turn's stop, a shutdown) while the provider was working on it: the
        # estimate of what was sent, as a stopped chat round is charged.
        usage = Usage(estimate_messages_tokens(messages), 0)
        await asyncio.shield(
            _charge(user=user, kind=kind, model=model, usage=usage, estimated=True)
        )
        raise
    except Exception as exc:
        usage = getattr(exc, "usage", None)
        if usage is not None:
            await _charge(user=user, kind=kind, model=model, usage=usage)
        raise
    if completion.usage is not None:
        usage, estimated = completion.usage, False
    else:  # a server that reports no usage: Kaiwa's own estimate
        usage = Usage(estimate_messages_tokens(messages), estimate_tokens(completion.content))
        estimated = True
    await _charge(
        user=user,
        kind=kind,
        model=completion.model or model,
        usage=usage,
        estimated=estimated,
    )
    return completion.content


@in_db_thread
def _charge(*, user, kind: UsageKind, model: str, usage: Usage, estimated: bool = False):
    usage_record(
        user=user,
        kind=kind,
        model=model,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        estimated=estimated,
    )
