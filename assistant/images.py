"""Image generation: ask the backend, take the bytes at once and check them (stored under
our own name by assistant/image_jobs.py, which runs every image as a job).

Provider URLs expire (60 minutes at OpenAI, 24 hours at Azure), so a URL answer is downloaded
immediately — with an overall timeout, a size cap enforced while reading (whatever
Content-Length says) and a check that the bytes are PNG, JPEG or WebP. Images are served
only by our owner-only view; the provider's URL is never stored or shown.

SSRF: the download URL comes from the image provider's answer, so a hostile or compromised
provider chooses it. Only http(s) is accepted, the host must resolve to public addresses only
and the connection goes to the address that was checked (assistant/safe_download.py;
IMAGE_DOWNLOAD_ALLOW_PRIVATE lifts this for a local image server), and a redirect is an
error, never followed. Whatever answers, the body is refused unless it is an image.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx2
from django.conf import settings

from assistant.backends import get_backend
from assistant.backends.base import GeneratedImageData
from assistant.errors import UpstreamError, UpstreamTimeout
from assistant.models import IMAGE_CONTENT_TYPES
from assistant.safe_download import AddressRefused, PublicAddressTransport
from conversations.errors import InvalidInput

logger = logging.getLogger("kaiwa.images")

# DALL·E 3 accepts at most 4,000 characters (gpt-image models more): the common limit.
PROMPT_MAX_CHARS = 4000


@dataclass(frozen=True, slots=True)
class FetchedImage:
    """Checked image bytes, not yet stored."""

    data: bytes
    content_type: str
    revised_prompt: str
    model: str


def image_sizes() -> list[str]:
    return list(settings.IMAGE_SIZES)


def validate_image_request(*, prompt: str, size: str) -> None:
    """A non-blank prompt of at most PROMPT_MAX_CHARS and one of settings.IMAGE_SIZES."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidInput("The image prompt is empty.")
    if len(prompt) > PROMPT_MAX_CHARS:
        raise InvalidInput(f"The image prompt is longer than {PROMPT_MAX_CHARS} characters.")
    if size not in image_sizes():
        raise InvalidInput(f"size must be one of {', '.join(image_sizes())}.")


def sniff_image_type(data: bytes) -> str | None:
    """The content type from the magic bytes: PNG, JPEG or WebP; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _too_large() -> UpstreamError:
    return UpstreamError(
        f"The generated image is larger than the limit of {settings.IMAGE_MAX_BYTES} bytes "
        "(IMAGE_MAX_BYTES); it was not stored."
    )


async def download_image(url: str) -> bytes:
    """The bytes at the provider's `url`, within IMAGE_DOWNLOAD_TIMEOUT and IMAGE_MAX_BYTES."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamError("The image provider answered with an unusable image URL.")
    cap = int(settings.IMAGE_MAX_BYTES)
    timeout = float(settings.IMAGE_DOWNLOAD_TIMEOUT)
    started = time.monotonic()
    outcome = "error"
    received = 0
    try:
        try:
            async with asyncio.timeout(timeout):
                transport = PublicAddressTransport(
                    allow_private=bool(settings.IMAGE_DOWNLOAD_ALLOW_PRIVATE)
                )
                async with httpx2.AsyncClient(
                    timeout=timeout, follow_redirects=False, transport=transport
                ) as client:
                    # identity: the cap counts the bytes on the wire, never a decompressed bomb.
                    headers = {
                        "Accept": ", ".join(IMAGE_CONTENT_TYPES),
                        "Accept-Encoding": "identity",
                    }
                    async with client.stream("GET", url, headers=headers) as response:
                        if response.is_redirect:
                            outcome = "redirect"
                            raise UpstreamError(
                                "The image provider answered the download with a redirect "
                                f"(HTTP {response.status_code}); redirects are not followed."
                            )
                        if response.status_code != 200:
                            outcome = f"http_{response.status_code}"
                            raise UpstreamError(
                                "The generated image could not be downloaded from the provider "
                                f"(HTTP {response.status_code})."
                            )
                        declared = response.headers.get("content-length", "")
                        if declared.isdigit() and int(declared) > cap:
                            outcome = "too_large"
                            raise _too_large()
                        chunks: list[bytes] = []
                        async for chunk in response.aiter_raw():
                            received += len(chunk)
                            if received > cap:
                                outcome = "too_large"
                                raise _too_large()
                            chunks.append(chunk)
        except (TimeoutError, httpx2.TimeoutException):
            outcome = "timeout"
            raise UpstreamTimeout(
                f"The generated image could not be downloaded within {timeout:g} s "
                "(IMAGE_DOWNLOAD_TIMEOUT)."
            ) from None
        except AddressRefused:
            outcome = "refused_address"
            raise UpstreamError(
                "The generated image's URL points to an address that is not public; it was "
                "not downloaded (IMAGE_DOWNLOAD_ALLOW_PRIVATE allows private addresses)."
            ) from None
        except httpx2.HTTPError:
            outcome = "unavailable"
            raise UpstreamError(
                "The generated image could not be downloaded from the provider."
            ) from None
        outcome = "ok"
        return b"".join(chunks)
    finally:
        # The host only: the query string of a provider URL is a signature.
        logger.info(
            "image_download",
            extra={
                "host": parts.hostname,
                "bytes": received,
                "latency_ms": round((time.monotonic() - started) * 1000),
                "outcome": outcome,
            },
        )


async def image_fetch(
    *,
    prompt: str,
    size: str,
    spent: Callable[[GeneratedImageData], Awaitable[None]] | None = None,
) -> FetchedImage:
    """Generate one image and return its checked bytes (no database access itself).

    `spent` is awaited as soon as the provider has made the image (and charged for it),
    before the bytes are downloaded and checked.
    """
    validate_image_request(prompt=prompt, size=size)
    generated = await get_backend().generate_image(prompt=prompt, size=size)
    if spent is not None:
        await spent(generated)
    if generated.b64_bytes is not None:
        data = generated.b64_bytes
        if len(data) > settings.IMAGE_MAX_BYTES:
            raise _too_large()
    elif generated.url:
        data = await download_image(generated.url)
    else:
        raise UpstreamError("The image provider returned no image.")
    content_type = sniff_image_type(data)
    if content_type is None:
        raise UpstreamError(
            "The image provider returned data that is not a PNG, JPEG or WebP image; "
            "it was not stored."
        )
    return FetchedImage(
        data=data,
        content_type=content_type,
        revised_prompt=generated.revised_prompt or "",
        model=generated.model or "",
    )
