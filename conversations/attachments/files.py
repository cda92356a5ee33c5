"""What an uploaded file is, judged by its bytes (never its name), and what we keep of it.

- Images (PNG, JPEG, WebP, GIF that is not animated) are opened with Pillow, turned upright
  by their EXIF orientation, scaled down to what a vision model uses and encoded again:
  the stored file carries no metadata (EXIF, GPS position, comments).
- Documents: a PDF's text is extracted page by page with pypdf, a DOCX's paragraphs with
  python-docx, any other text is decoded after charset detection (charset-normalizer).

Each refusal is a domain error with its code (conversations/errors.py); nothing here
touches the database or the storage.
"""

import csv
import io
import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

import charset_normalizer
import docx
import pypdf
from PIL import Image, ImageOps

from conversations.errors import AttachmentTypeUnsupported, AttachmentUnreadable

# OpenAI's high-detail image input: the image is fitted into 2048 × 2048, then its shorter
# side into 768 pixels; anything larger is scaled down by the provider and only costs
# bandwidth and storage. https://platform.openai.com/docs/guides/images-vision
IMAGE_MAX_LONG_SIDE = 2048
IMAGE_MAX_SHORT_SIDE = 768
# Refused before decoding: a small file can claim a huge canvas (a decompression bomb).
IMAGE_MAX_PIXELS = 50_000_000
# A DOCX is a zip (a zip bomb compresses well): its members together may not unpack to
# more than this, nor its main part, word/document.xml, which lxml parses whole into memory
# (about 14 times its size). zipfile reads no member past the size its header declares.
DOCX_MAX_UNPACKED_BYTES = 50 * 1024 * 1024
DOCX_MAX_DOCUMENT_XML_BYTES = 16 * 1024 * 1024
# A document's work is bounded by its pages and its text, not by its upload size: a small
# PDF can repeat one compressed content stream on thousands of pages. A PDF with more pages
# is refused before any text is extracted; a document whose text grows past
# DOCUMENT_MAX_CHARACTERS is refused as soon as it does (extraction stops there).
PDF_MAX_PAGES = 500
DOCUMENT_MAX_CHARACTERS = 2_000_000

# The separator between a PDF's pages in the stored text; other documents are cut between
# lines (paragraphs for DOCX).
PAGE_SEPARATOR = "\f"

_IMAGE_FORMATS = {
    "PNG": ("image/png", "png"),
    "JPEG": ("image/jpeg", "jpg"),
    "WEBP": ("image/webp", "webp"),
    "GIF": ("image/gif", "gif"),
}
_TEXT_SUBTYPES = {
    ".md": ("text/markdown", "md"),
    ".markdown": ("text/markdown", "md"),
    ".csv": ("text/csv", "csv"),
    ".json": ("application/json", "json"),
}
DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True, slots=True)
class InspectedFile:
    """An accepted upload: what to store and what we know of it."""

    kind: str  # "image" or "document" (Attachment.Kind)
    content_type: str
    extension: str
    data: bytes  # the bytes to store (an image re-encoded, a document as uploaded)
    width: int | None = None
    height: int | None = None
    text: str = ""
    units: int = 0
    pages: int | None = None


def inspect_upload(*, data: bytes, name: str) -> InspectedFile:
    """Accept and prepare an upload, or raise AttachmentTypeUnsupported /
    AttachmentUnreadable. `name` only chooses among the text types (Markdown, CSV, JSON,
    plain text) once the bytes are known to be text."""
    if _looks_like_image(data):
        return _inspect_image(data)
    if data[:1024].lstrip().startswith(b"%PDF-"):
        return _inspect_pdf(data)
    if data.startswith(b"PK\x03\x04"):
        return _inspect_docx(data)
    return _inspect_text(data, name)


def _looks_like_image(data: bytes) -> bool:
    return (
        data.startswith(b"\x89PNG\r\n\x1a\n")
        or data.startswith(b"\xff\xd8\xff")
        or (len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP")
        or data.startswith((b"GIF87a", b"GIF89a"))
    )


def scaled_size(width: int, height: int) -> tuple[int, int]:
    """The size an image is stored at: within IMAGE_MAX_LONG_SIDE × IMAGE_MAX_SHORT_SIDE,
    never enlarged."""
    long_side, short_side = max(width, height), min(width, height)
    factor = min(1.0, IMAGE_MAX_LONG_SIDE / long_side, IMAGE_MAX_SHORT_SIDE / short_side)
    return max(1, round(width * factor)), max(1, round(height * factor))


def _inspect_image(data: bytes) -> InspectedFile:
    try:
        image = Image.open(io.BytesIO(data))
        image_format = image.format or ""
        if image_format not in _IMAGE_FORMATS:
            raise AttachmentTypeUnsupported()
        if image.width * image.height > IMAGE_MAX_PIXELS:
            raise AttachmentUnreadable(
                f"The image has more than {IMAGE_MAX_PIXELS:,} pixels; it was not stored."
            )
        if getattr(image, "n_frames", 1) > 1:
            raise AttachmentTypeUnsupported(
                "Animated images cannot be attached; attach a single frame (PNG, JPEG, WebP "
                "or a still GIF)."
            )
        image.load()
        # Upright first: the orientation lives in the EXIF data that is dropped below.
        upright = ImageOps.exif_transpose(image)
        size = scaled_size(upright.width, upright.height)
        if size != upright.size:
            upright = upright.resize(size, Image.Resampling.LANCZOS)
        encoded = _encode_without_metadata(upright, image_format)
    except (AttachmentTypeUnsupported, AttachmentUnreadable):
        raise
    except Exception as exc:  # noqa: BLE001  # Pillow raises many kinds (SyntaxError for EXIF)
        raise AttachmentUnreadable("The image is damaged and could not be read.") from exc
    content_type, extension = _IMAGE_FORMATS[image_format]
    return InspectedFile(
        kind="image",
        content_type=content_type,
        extension=extension,
        data=encoded,
        width=size[0],
        height=size[1],
    )


def _encode_without_metadata(image: Image.Image, image_format: str) -> bytes:
    """The pixels alone, in the original format: a fresh image has no EXIF, XMP, ICC or
    text chunks to carry over."""
    if image_format == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    if image_format == "WEBP" and image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA")
    clean = Image.new(image.mode, image.size)
    if image.mode == "P":
        clean.putpalette(image.getpalette() or [])
    clean.paste(image)
    if image.mode == "P" and "transparency" in image.info:
        clean.info["transparency"] = image.info["transparency"]
    out = io.BytesIO()
    options = {"quality": 90} if image_format in ("JPEG", "WEBP") else {}
    clean.save(out, format=image_format, **options)
    return out.getvalue()


def _inspect_pdf(data: bytes) -> InspectedFile:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise AttachmentUnreadable(
                "The PDF is encrypted (protected by a password); save an unprotected copy and "
                "attach that."
            )
        if len(reader.pages) > PDF_MAX_PAGES:
            raise AttachmentUnreadable(
                f"The PDF has more than {PDF_MAX_PAGES:,} pages; attach the pages you need."
            )
        pages = []
        characters = 0
        for page in reader.pages:
            pages.append(_clean_text(page.extract_text() or ""))
            characters += len(pages[-1])
            if characters > DOCUMENT_MAX_CHARACTERS:
                raise _too_much_text()
    except AttachmentUnreadable:
        raise
    except Exception as exc:  # noqa: BLE001  # pypdf raises many kinds for a broken file
        raise AttachmentUnreadable(
            "The PDF is damaged or encrypted and could not be read."
        ) from exc
    if not any(page.strip() for page in pages):
        raise AttachmentUnreadable(
            "The PDF has no text layer (a scanned document?); attach its pages as images, "
            "or a PDF with text."
        )
    return InspectedFile(
        kind="document",
        content_type="application/pdf",
        extension="pdf",
        data=data,
        text=PAGE_SEPARATOR.join(page.replace(PAGE_SEPARATOR, "\n") for page in pages),
        units=len(pages),
        pages=len(pages),
    )


def _too_much_text() -> AttachmentUnreadable:
    return AttachmentUnreadable(
        f"The document has more than {DOCUMENT_MAX_CHARACTERS:,} characters of text; attach "
        "the part you need."
    )


def _inspect_docx(data: bytes) -> InspectedFile:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            names = {member.filename for member in members}
            unpacked = sum(member.file_size for member in members)
            document_xml = max(
                (m.file_size for m in members if m.filename == "word/document.xml"), default=0
            )
    except zipfile.BadZipFile as exc:
        raise AttachmentTypeUnsupported() from exc
    if "word/document.xml" not in names:
        raise AttachmentTypeUnsupported()
    if unpacked > DOCX_MAX_UNPACKED_BYTES or document_xml > DOCX_MAX_DOCUMENT_XML_BYTES:
        raise AttachmentUnreadable(
            f"The document unpacks to more data than Kaiwa reads ({DOCX_MAX_UNPACKED_BYTES:,} "
            f"bytes in all, {DOCX_MAX_DOCUMENT_XML_BYTES:,} for its main part)."
        )
    try:
        document = docx.Document(io.BytesIO(data))
        lines = []
        characters = 0
        for line in _docx_lines(document):
            lines.append(line)
            characters += len(line)
            if characters > DOCUMENT_MAX_CHARACTERS:
                raise _too_much_text()
    except AttachmentUnreadable:
        raise
    except Exception as exc:  # noqa: BLE001  # python-docx/lxml raise many kinds
        raise AttachmentUnreadable("The document is damaged and could not be read.") from exc
    lines = [_clean_text(line) for line in lines if line.strip()]
    if not lines:
        raise AttachmentUnreadable("The document has no text.")
    return InspectedFile(
        kind="document",
        content_type=DOCX_CONTENT_TYPE,
        extension="docx",
        data=data,
        text="\n".join(lines),
        units=len(lines),
    )


def _docx_lines(document):
    """The paragraphs' text, then each table row's cells joined by tabs, one at a time."""
    for paragraph in document.paragraphs:
        yield paragraph.text
    for table in document.tables:
        for row in table.rows:
            yield "\t".join(cell.text for cell in row.cells)


def _inspect_text(data: bytes, name: str) -> InspectedFile:
    if b"\x00" in data:  # binary, or UTF-16/32 that no one attaches as a document
        raise AttachmentTypeUnsupported()
    match = charset_normalizer.from_bytes(data).best()
    if match is None:
        raise AttachmentTypeUnsupported()
    text = _clean_text(str(match)).lstrip("\ufeff")
    if not text.strip():
        raise AttachmentUnreadable("The file has no text.")
    content_type, extension = _TEXT_SUBTYPES.get(
        PurePath(name).suffix.lower(), ("text/plain", "txt")
    )
    if content_type == "application/json" and not _is_json(text):
        content_type, extension = "text/plain", "txt"
    if content_type == "text/csv" and not _is_csv(text):
        content_type, extension = "text/plain", "txt"
    # Lines as an editor counts them: a final line break ends the last line, it starts none.
    lines = text.splitlines()
    return InspectedFile(
        kind="document",
        content_type=content_type,
        extension=extension,
        data=data,
        text=text,
        units=len(lines),
    )


def _clean_text(text: str) -> str:
    # PostgreSQL's text cannot hold NUL; line ends are made one kind for the cut.
    return text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _is_csv(text: str) -> bool:
    try:
        csv.Sniffer().sniff(text[:8192])
    except csv.Error:
        return False
    return True


def image_tokens(width: int, height: int) -> int:
    """What an image costs at OpenAI's high detail: 85 tokens plus 170 per 512-pixel tile
    of the image fitted as scaled_size fits it."""
    width, height = scaled_size(width, height)
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)
