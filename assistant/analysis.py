"""Text analysis (POST /api/analyze/): one model call forced to call analyze_text.

Stateless: no conversation is stored. The call is charged to the usage ledger (kind
analyze) and so counts against the daily token quota, which refuses it when used up.
"""

import json
from dataclasses import asdict, dataclass
from typing import Any

import jsonschema
from asgiref.sync import sync_to_async

from assistant.backends import get_backend
from assistant.backends.base import ChatOptions
from assistant.context import estimate_messages_tokens, estimate_tokens
from assistant.errors import UpstreamError
from assistant.limits import quota_check
from assistant.tools import analyze_text
from conversations.validation import validate_message_text
from usage.models import UsageKind
from usage.services import usage_record

SYSTEM_PROMPT = "あなたはテキスト分析の専門家です。"
# Low temperature: the same text should get the same analysis.
TEMPERATURE = 0.3
MAX_TOKENS = 500


@dataclass(frozen=True, slots=True)
class TextAnalysis:
    sentiment: str
    intent: str
    confidence: float
    keywords: list[str]

    def as_dict(self) -> dict:
        return asdict(self)


async def text_analyze(*, user: Any, text: str) -> TextAnalysis:
    """Analyse `text` for `user`; UpstreamError (502) if the answer is not a valid analysis."""
    validate_message_text(text)
    await sync_to_async(quota_check)(user=user)
    tool = analyze_text.TOOL
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"以下のテキストを分析してください:\n\n{text}"},
    ]
    completion = await get_backend().complete_chat(
        messages=messages,
        options=ChatOptions(
            temperature=TEMPERATURE,
            max_tokens=MAX_TOKENS,
            tools=[tool.spec()],
            tool_choice={"type": "function", "function": {"name": tool.name}},
        ),
    )
    # Charged whatever the answer: the provider has been paid for it.
    usage = completion.usage
    await sync_to_async(usage_record)(
        user=user,
        kind=UsageKind.ANALYZE,
        model=completion.model,
        prompt_tokens=usage.prompt_tokens if usage else estimate_messages_tokens(messages),
        completion_tokens=usage.completion_tokens
        if usage
        else estimate_tokens("".join(c.arguments for c in completion.tool_calls)),
        estimated=usage is None,
    )
    call = next((c for c in completion.tool_calls if c.name == tool.name), None)
    if call is None:
        raise UpstreamError(
            "The model did not call analyze_text although it was required to; no analysis."
        )
    try:
        arguments = json.loads(call.arguments or "")
    except json.JSONDecodeError:
        raise UpstreamError("The model's analyze_text arguments are not valid JSON.") from None
    errors = sorted(
        jsonschema.Draft202012Validator(tool.parameters).iter_errors(arguments), key=str
    )
    if errors:
        detail = "; ".join(error.message for error in errors[:3])
        raise UpstreamError(
            f"The model's analysis does not match the analyze_text schema: {detail}."
        )
    return TextAnalysis(**analyze_text.analysis_from_arguments(arguments))
