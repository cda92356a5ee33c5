"""Files for the attachment tests, made here (nothing downloaded): images with Pillow, PDFs
with pypdf, a DOCX with python-docx."""

import io
import zipfile

import docx
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

# EXIF tags: GPSInfo and Orientation.
GPS_INFO = 0x8825
ORIENTATION = 0x0112


def image_bytes(
    width: int = 64,
    height: int = 48,
    *,
    fmt: str = "PNG",
    color: tuple[int, int, int] = (200, 30, 30),
    gps: bool = False,
    orientation: int | None = None,
) -> bytes:
    """An image of one colour; with `gps`, EXIF holding a GPS position (and `orientation`)."""
    image = Image.new("RGB", (width, height), color)
    options = {}
    if gps or orientation:
        exif = Image.Exif()
        if gps:
            exif[GPS_INFO] = {1: "N", 2: (35.0, 39.0, 0.0), 3: "E", 4: (139.0, 45.0, 0.0)}
        if orientation:
            exif[ORIENTATION] = orientation
        options["exif"] = exif.tobytes()
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def animated_gif() -> bytes:
    colors = ((255, 0, 0), (0, 255, 0), (0, 0, 255))
    frames = [Image.new("RGB", (16, 16), color) for color in colors]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def pdf_bytes(pages: list[str], *, password: str | None = None) -> bytes:
    """A PDF with one line of text per page (Helvetica); encrypted when `password` is given."""
    writer = PdfWriter()
    for text in pages:
        page = writer.add_blank_page(612, 792)
        if text:
            font = DictionaryObject(
                {
                    NameObject("/Type"): NameObject("/Font"),
                    NameObject("/Subtype"): NameObject("/Type1"),
                    NameObject("/BaseFont"): NameObject("/Helvetica"),
                }
            )
            page[NameObject("/Resources")] = DictionaryObject(
                {
                    NameObject("/Font"): DictionaryObject(
                        {NameObject("/F1"): writer._add_object(font)}
                    )
                }
            )
            stream = DecodedStreamObject()
            escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            stream.set_data(f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1"))
            page[NameObject("/Contents")] = writer._add_object(stream)
    if password is not None:
        writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def pdf_sharing_one_stream(pages: int, text: str) -> bytes:
    """A PDF of `pages` pages that all draw one compressed content stream showing `text`:
    small to upload, costly to extract."""
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    resources = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode("latin-1"))
    contents = writer._add_object(stream.flate_encode())
    for _ in range(pages):
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = resources
        page[NameObject("/Contents")] = contents
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_bytes(paragraphs: list[str]) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def docx_with_members(document_xml: bytes, **extra: bytes) -> bytes:
    """A DOCX made by python-docx whose word/document.xml is replaced and to which the
    `extra` members (name: bytes) are added; everything deflated, so repetition is small."""
    source = zipfile.ZipFile(io.BytesIO(docx_bytes(["x"])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for member in source.infolist():
            data = source.read(member)
            archive.writestr(
                member.filename, document_xml if member.filename == "word/document.xml" else data
            )
        for name, data in extra.items():
            archive.writestr(name, data)
    return out.getvalue()


def document_xml(paragraphs: list[str]) -> bytes:
    body = "".join(f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>" for text in paragraphs)
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        f"<w:body>{body}</w:body></w:document>"
    ).encode()


def damaged_images() -> dict[str, bytes]:
    """Images that Pillow identifies but cannot read whole: cut short, or with EXIF data
    that is not TIFF (Pillow raises SyntaxError when it parses it)."""
    broken_exif = {}
    for fmt in ("PNG", "WEBP"):
        out = io.BytesIO()
        Image.new("RGB", (16, 16), (0, 90, 200)).save(out, format=fmt, exif=b"not-a-tiff-header")
        broken_exif[fmt] = out.getvalue()
    return {
        "truncated-png": image_bytes(64, 48)[:70],
        "png-broken-exif": broken_exif["PNG"],
        "webp-broken-exif": broken_exif["WEBP"],
    }
