"""analyze_text: sentiment, intent, confidence and keywords of a text (the seed's schema).

Mainly used with a forced tool choice by POST /api/analyze/ (assistant.analysis); offered in
chat too, where the handler just returns the validated analysis for the model to use.
"""

from typing import Any

from assistant.tools.registry import Tool, ToolContext, register

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sentiment": {
            "type": "string",
            "enum": ["positive", "negative", "neutral"],
            "description": "感情の分類 / the sentiment",
        },
        "intent": {"type": "string", "description": "ユーザーの意図 / the writer's intent"},
        "confidence": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "信頼度 (0..1) / confidence",
        },
        "keywords": {
            "type": "array",
            "items": {"type": "string"},
            "description": "重要なキーワード / important keywords",
        },
    },
    "required": ["sentiment", "intent", "confidence"],
    "additionalProperties": False,
}


def analysis_from_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    """The analysis in API.md's shape (keywords default to an empty list)."""
    return {
        "sentiment": arguments["sentiment"],
        "intent": arguments["intent"],
        "confidence": arguments["confidence"],
        "keywords": list(arguments.get("keywords") or []),
    }


async def _handle(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
    return analysis_from_arguments(arguments)


TOOL = register(
    Tool(
        name="analyze_text",
        description=(
            "テキストを分析し、感情や意図を判定する。"
            " Analyse a text: sentiment, intent, confidence (0..1) and keywords."
        ),
        parameters=PARAMETERS,
        handler=_handle,
    )
)
