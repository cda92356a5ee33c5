"""generate_image: generate an image, store it for the acting user, return our own URL.

The reply may embed the image with the returned Markdown; the URL is this service's
owner-only file view (the sanitiser keeps same-origin images), never the provider's.
"""

from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from assistant.images import PROMPT_MAX_CHARS, aimage_generate
from assistant.limits import Throttled, send_rate_check
from assistant.tools.registry import Tool, ToolContext, register

DEFAULT_SIZE = "1024x1024"


def _parameters() -> dict[str, Any]:
    sizes = list(settings.IMAGE_SIZES)
    return {
        "type": "object",
        "properties": {
            "prompt": {
                "type": "string",
                "minLength": 1,
                "maxLength": PROMPT_MAX_CHARS,
                "description": "画像生成プロンプト / what to draw",
            },
            "size": {
                "type": "string",
                "enum": sizes,
                "default": DEFAULT_SIZE if DEFAULT_SIZE in sizes else sizes[0],
                "description": "画像サイズ / image size",
            },
        },
        "required": ["prompt"],
        "additionalProperties": False,
    }


def _alt_text(prompt: str) -> str:
    flat = " ".join(prompt.split()).replace("[", "(").replace("]", ")")
    return flat[:80]


async def _handle(arguments: dict[str, Any], context: ToolContext) -> dict[str, Any]:
    size = arguments.get("size") or TOOL.parameters["properties"]["size"]["default"]
    try:
        # The same limits as POST /api/images/: the images rate and DAILY_IMAGE_QUOTA. Over
        # either, the model reads why and the turn goes on.
        await sync_to_async(send_rate_check, thread_sensitive=False)(
            user=context.user, scope="images"
        )
        image = await aimage_generate(
            user=context.user,
            prompt=arguments["prompt"],
            size=size,
            source_message=context.message,
        )
    except Throttled as exc:
        return {"error": exc.detail}
    url = image.get_file_url()
    return {
        "image_id": str(image.pk),
        "url": url,
        "revised_prompt": image.revised_prompt,
        "markdown": f"![{_alt_text(image.prompt)}]({url})",
    }


TOOL = register(
    Tool(
        name="generate_image",
        description=(
            "画像を生成する。Generate an image from a prompt and store it; embed it in the "
            "reply with the returned Markdown."
        ),
        parameters=_parameters(),
        handler=_handle,
    )
)
