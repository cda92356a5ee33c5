"""Image generation: ask the backend, take the bytes at once, store them under our own name.

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
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx2
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from assistant.backends import get_backend
from assistant.backends.base import GeneratedImageData
from assistant.errors import UpstreamError, UpstreamTimeout
from assistant.limits import image_quota_take, quota_check
from assistant.models import IMAGE_CONTENT_TYPES, GeneratedImage
from assistant.safe_download import AddressRefused, PublicAddressTransport
from conversations.errors import InvalidInput
from conversations.models import Message
from usage.models import UsageKind
from usage.services import image_give_back, usage_record

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


def image_store(
    *,
    user: Any,
    prompt: str,
    size: str,
    fetched: FetchedImage,
    source_message: Message | None = None,
    started_at: datetime | None = None,
) -> GeneratedImage:
    """Write the bytes to the images storage under a server-generated name and record them
    (`complete`; with `started_at`, its duration counts in the user's usual one)."""
    if source_message is not None and source_message.conversation.owner_id != user.pk:
        source_message = None
    image = GeneratedImage(
        owner=user,
        prompt=prompt,
        revised_prompt=fetched.revised_prompt,
        size=size,
        model=fetched.model,
        content_type=fetched.content_type,
        byte_size=len(fetched.data),
        source_message=source_message,
        started_at=started_at,
        finished_at=timezone.now() if started_at else None,
    )
    extension = IMAGE_CONTENT_TYPES[fetched.content_type]
    # upload_to replaces the name; only the extension is kept.
    image.file.save(f"image.{extension}", ContentFile(fetched.data), save=False)
    try:
        with transaction.atomic():
            image.save()
    except BaseException:
        image.file.delete(save=False)
        raise
    return image


@dataclass(slots=True)
class _ImageAllowance:
    """One image counted against DAILY_IMAGE_QUOTA before the provider is asked.

    Once the provider has made the image it is spent: recorded in the ledger (kind image)
    and kept counted even if its download or check fails. Otherwise it is given back.
    """

    user: Any
    day: date
    spent: bool = False

    async def record(self, generated: GeneratedImageData) -> None:
        self.spent = True
        usage = generated.usage
        # Back on the caller's thread (sync_to_async, thread-sensitive): the view's.
        await sync_to_async(usage_record)(
            user=self.user,
            kind=UsageKind.IMAGE,
            model=generated.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            day=self.day,
        )

    def close(self) -> None:
        if not self.spent:
            image_give_back(user=self.user, day=self.day)


def image_generate(
    *, user: Any, prompt: str, size: str, source_message: Message | None = None
) -> GeneratedImage:
    """Generate, check and store one image for `user` (sync callers: views)."""
    validate_image_request(prompt=prompt, size=size)
    quota_check(user=user)
    allowance = _ImageAllowance(user=user, day=image_quota_take(user=user))
    started_at = timezone.now()
    try:
        fetched = async_to_sync(image_fetch)(prompt=prompt, size=size, spent=allowance.record)
    finally:
        allowance.close()
    return image_store(
        user=user,
        prompt=prompt,
        size=size,
        fetched=fetched,
        source_message=source_message,
        started_at=started_at,
    )
