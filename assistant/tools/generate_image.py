"""generate_image: generate an image, store it for the acting user, return our own URL.

The image is an image job (assistant/image_jobs.py), the same as POST /api/images/ with
`Prefer: respond-async`: the owner's pages see it on the images page and get its
`image_job` events, and it survives the turn (a stop, a closed tab). The tool waits for the
job up to IMAGE_REQUEST_TIMEOUT: when it is complete the reply may embed the image with the
returned Markdown (our own owner-only file URL, which the sanitiser keeps, never the
provider's); when it is still running the result says so and where it will appear, and
the job goes on by itself.
"""

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.urls import reverse

from assistant.db_threads import in_db_thread
from assistant.image_jobs import image_job_create, spawn_image_job
from assistant.images import PROMPT_MAX_CHARS
from assistant.limits import Throttled, send_rate_check
from assistant.models import GeneratedImage
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
        job = await in_db_thread(image_job_create)(
            user=context.user,
            prompt=arguments["prompt"],
            size=size,
            source_message=context.message,
            check_tokens=False,
        )
    except Throttled as exc:
        return {"error": exc.detail}
    # Shielded: a stop of the turn ends the wait, never the job.
    task = spawn_image_job(job.pk)
    try:
        async with asyncio.timeout(settings.IMAGE_REQUEST_TIMEOUT):
            image = await asyncio.shield(task)
    except TimeoutError:
        return {
            "image_id": str(job.pk),
            "status": "running",
            "note": "The image is still being made; it will appear on the images page "
            f"({reverse('images')}) when it is ready.",
        }
    if image is None or image.status != GeneratedImage.Status.COMPLETE:
        code = image.error_code if image is not None else "upstream_error"
        text = image.error_text if image is not None else "The image job was lost."
        return {"error": text, "code": code}
    url = image.get_file_url()
    return {
        "image_id": str(image.pk),
        "status": "complete",
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
