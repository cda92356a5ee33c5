"""Text analysis (POST /api/analyze/): one model call forced to call analyze_text.

Stateless: nothing is stored; the model call is logged (with its token usage) by the
backend's call log like every other. Its tokens are therefore not counted in the daily
quota (which sums stored messages), but a user whose quota is used up is refused here too.
"""

import json
from dataclasses import asdict, dataclass
from typing import Any

import jsonschema
from asgiref.sync import sync_to_async

from assistant.backends import get_backend
from assistant.backends.base import ChatOptions
from assistant.errors import UpstreamError
from assistant.limits import quota_check
from assistant.tools import analyze_text
from assistant.turns import validate_message_text

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
    completion = await get_backend().complete_chat(
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"以下のテキストを分析してください:\n\n{text}"},
        ],
        options=ChatOptions(
            temperature=TEMPERATURE,
            max_tokens=MAX_TOKENS,
            tools=[tool.spec()],
            tool_choice={"type": "function", "function": {"name": tool.name}},
        ),
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
