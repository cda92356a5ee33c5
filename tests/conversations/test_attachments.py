"""Attachments: upload, type by content, limits, the owner-only file, deletion."""

import io

import pypdf
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from PIL import Image

from assistant.attachment_context import document_block
from conversations.attachments import files
from conversations.attachments.services import included_note
from conversations.models import Attachment, Message, MessageAttachment
from tests.attachment_files import (
    GPS_INFO,
    animated_gif,
    damaged_images,
    document_xml,
    docx_bytes,
    docx_with_members,
    image_bytes,
    pdf_bytes,
    pdf_sharing_one_stream,
)
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def upload(client, conversation, data: bytes, name: str, content_type: str = ""):
    """POST the file as a browser would (the declared type is the client's guess)."""
    file = SimpleUploadedFile(name, data, content_type=content_type or "application/octet-stream")
    return client.post(
        f"/api/conversations/{conversation.pk}/attachments/", {"file": file}, format="multipart"
    )


@pytest.fixture
def conversation(user):
    return ConversationFactory(owner=user)


def stored_files(settings) -> list:
    root = settings.MEDIA_ROOT / "images" / "attachments"
    return sorted(root.iterdir()) if root.exists() else []


def test_an_image_is_stored_upright_scaled_and_without_exif(api_client, conversation, settings):
    data = image_bytes(4000, 3000, fmt="JPEG", gps=True, orientation=6)
    assert GPS_INFO in Image.open(io.BytesIO(data)).getexif()
    response = upload(api_client, conversation, data, "whiteboard.jpg", "image/jpeg")
    assert response.status_code == 201, response.content
    body = response.json()
    attachment = Attachment.objects.get(pk=body["id"])
    assert body == {
        "id": str(attachment.pk),
        "kind": "image",
        "name": "whiteboard.jpg",
        "size": attachment.byte_size,
        "content_type": "image/jpeg",
        "url": f"/api/attachments/{attachment.pk}/file/",
        "pages": None,
        "tokens": 85 + 170 * 2 * 2,  # 768 × 1024: four 512-pixel tiles
    }
    served = api_client.get(body["url"])
    assert served.status_code == 200
    assert served["Content-Type"] == "image/jpeg"
    assert served["X-Content-Type-Options"] == "nosniff"
    image = Image.open(io.BytesIO(b"".join(served.streaming_content)))
    # Orientation 6 (turned 90°): stored upright, then fitted into 2048 × 768.
    assert image.size == (768, 1024)
    assert not image.getexif()
    assert "exif" not in image.info
    assert len(stored_files(settings)) == 1


def test_a_pdf_docx_and_text_are_documents_with_their_text(api_client, conversation):
    pdf = upload(api_client, conversation, pdf_bytes(["Page one", "Page two"]), "spec.pdf").json()
    assert (pdf["kind"], pdf["content_type"], pdf["pages"]) == ("document", "application/pdf", 2)
    assert Attachment.objects.get(pk=pdf["id"]).text == "Page one\fPage two"
    word = upload(api_client, conversation, docx_bytes(["第一段落", "第二段落"]), "memo.docx")
    assert word.json()["content_type"].endswith("wordprocessingml.document")
    assert Attachment.objects.get(pk=word.json()["id"]).text == "第一段落\n第二段落"
    csv = upload(api_client, conversation, "名前,年齢\n太郎,3\n".encode("shift_jis"), "a.csv")
    assert csv.json()["content_type"] == "text/csv"
    assert Attachment.objects.get(pk=csv.json()["id"]).text.startswith("名前,年齢")


@pytest.mark.parametrize("ending", ["\n", "\r\n", ""], ids=["lf", "crlf", "none"])
def test_a_text_file_has_as_many_lines_as_an_editor_shows(api_client, conversation, ending):
    lines = [f"row {n}" for n in range(3000)]
    data = (ending or "\n").join(lines).encode() + ending.encode()
    body = upload(api_client, conversation, data, "log.txt").json()
    attachment = Attachment.objects.get(pk=body["id"])
    assert attachment.units == 3000
    # A cut sends whole lines of those 3,000, and the note counts them the same way.
    message = Message.objects.create(conversation=conversation, role="user", content="x")
    link = MessageAttachment.objects.create(
        message=message, attachment=attachment, included_units=12
    )
    with translation.override("en"):
        assert included_note(link) == "lines 1–12 of 3000"
    block = document_block(attachment, 12)
    assert block.endswith("row 10\nrow 11\n```")


def test_the_type_is_judged_by_content_not_by_name(api_client, conversation, settings):
    # Bytes of no accepted type under an accepted name, and an image under a text name.
    refused = upload(api_client, conversation, bytes(range(256)) * 4, "notes.txt", "text/plain")
    assert refused.status_code == 415
    assert refused.json()["code"] == "attachment_type_unsupported"
    png_as_txt = upload(api_client, conversation, image_bytes(), "report.pdf", "application/pdf")
    assert png_as_txt.status_code == 201
    assert png_as_txt.json()["content_type"] == "image/png"
    animated = upload(api_client, conversation, animated_gif(), "anim.gif", "image/gif")
    assert animated.status_code == 415
    assert Attachment.objects.count() == 1
    assert len(stored_files(settings)) == 1


def test_a_file_over_the_limit_is_refused_naming_it(api_client, conversation, settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    response = upload(api_client, conversation, b"a" * 1001, "big.txt", "text/plain")
    assert response.status_code == 413
    assert response.json()["code"] == "attachment_too_large"
    assert "ATTACHMENT_MAX_BYTES" in response.json()["detail"]
    assert not Attachment.objects.exists() and not stored_files(settings)


@pytest.mark.parametrize(
    ("data", "phrase"),
    [
        (pdf_bytes(["secret"], password="pw"), "encrypted"),
        (pdf_bytes(["", ""]), "no text layer"),
        (b"%PDF-1.7\n" + b"\x00garbage" * 50, "damaged"),
    ],
    ids=["encrypted", "no-text-layer", "broken"],
)
def test_an_unreadable_pdf_gets_a_clear_message(api_client, conversation, settings, data, phrase):
    response = upload(api_client, conversation, data, "doc.pdf", "application/pdf")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "attachment_unreadable"
    assert phrase in response.json()["detail"]
    assert not Attachment.objects.exists() and not stored_files(settings)


def test_a_pdf_over_the_page_limit_is_refused_before_extraction(
    api_client, conversation, settings, monkeypatch
):
    monkeypatch.setattr(files, "PDF_MAX_PAGES", 5)
    extracted = count_extractions(monkeypatch)
    response = upload(api_client, conversation, pdf_sharing_one_stream(6, "x"), "big.pdf")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "attachment_unreadable"
    assert "more than 5 pages" in response.json()["detail"]
    assert extracted == []
    assert not Attachment.objects.exists() and not stored_files(settings)
    assert (
        upload(api_client, conversation, pdf_sharing_one_stream(5, "x"), "ok.pdf").status_code
        == 201
    )


def test_a_pdf_with_too_much_text_stops_being_read_at_the_limit(
    api_client, conversation, settings, monkeypatch
):
    # 200 pages of 100 characters each, one shared stream; the limit is passed on page 11.
    monkeypatch.setattr(files, "DOCUMENT_MAX_CHARACTERS", 1000)
    extracted = count_extractions(monkeypatch)
    response = upload(api_client, conversation, pdf_sharing_one_stream(200, "y" * 100), "t.pdf")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "attachment_unreadable"
    assert "more than 1,000 characters" in response.json()["detail"]
    assert len(extracted) == 11
    assert not Attachment.objects.exists() and not stored_files(settings)


@pytest.mark.parametrize(
    ("limit", "extra"),
    [
        ("DOCX_MAX_DOCUMENT_XML_BYTES", {}),
        ("DOCX_MAX_UNPACKED_BYTES", {"word/pad.bin": bytes(300_000)}),
    ],
    ids=["document-xml", "whole-archive"],
)
def test_a_docx_that_unpacks_too_large_is_refused_unparsed(
    api_client, conversation, settings, monkeypatch, limit, extra
):
    size = 250_000 if limit == "DOCX_MAX_DOCUMENT_XML_BYTES" else 1_000
    # word/document.xml of ~250 KB (or a 300 KB member) that deflates to a few KB: a zip
    # bomb, made small.
    data = docx_with_members(document_xml(["z" * 100] * (size // 130)), **extra)
    monkeypatch.setattr(files, limit, 200_000)
    parsed = []
    monkeypatch.setattr(files.docx, "Document", lambda *a, **k: parsed.append(a))
    assert len(data) < 50_000
    response = upload(api_client, conversation, data, "bomb.docx")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "attachment_unreadable"
    assert "200,000" in response.json()["detail"]
    assert parsed == []
    assert not Attachment.objects.exists() and not stored_files(settings)


def test_a_docx_with_too_much_text_is_refused(api_client, conversation, monkeypatch):
    monkeypatch.setattr(files, "DOCUMENT_MAX_CHARACTERS", 1000)
    data = docx_with_members(document_xml(["w" * 100] * 11))
    response = upload(api_client, conversation, data, "long.docx")
    assert response.status_code == 422, response.content
    assert "more than 1,000 characters" in response.json()["detail"]
    fits = upload(
        api_client, conversation, docx_with_members(document_xml(["w" * 100] * 10)), "ok.docx"
    )
    assert fits.status_code == 201, fits.content


def count_extractions(monkeypatch) -> list:
    calls = []
    extract = pypdf.PageObject.extract_text

    def counted(page, *args, **kwargs):
        calls.append(page)
        return extract(page, *args, **kwargs)

    monkeypatch.setattr(pypdf.PageObject, "extract_text", counted)
    return calls


@pytest.mark.parametrize(("name", "data"), damaged_images().items(), ids=damaged_images().keys())
def test_a_damaged_image_is_unreadable_not_a_server_error(
    api_client, conversation, settings, name, data
):
    response = upload(api_client, conversation, data, f"{name}.img")
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "attachment_unreadable"
    assert "damaged" in response.json()["detail"]
    assert not Attachment.objects.exists() and not stored_files(settings)


def test_another_users_attachment_is_404_on_every_route(
    api_client, other_client, conversation, settings
):
    attachment = upload(api_client, conversation, image_bytes(), "mine.png").json()
    assert other_client.get(attachment["url"]).status_code == 404
    assert other_client.get(f"/api/attachments/{attachment['id']}/").status_code == 404
    assert other_client.delete(f"/api/attachments/{attachment['id']}/").status_code == 404
    # Nor can they upload into this conversation.
    assert upload(other_client, conversation, image_bytes(), "x.png").status_code == 404
    from rest_framework.test import APIClient

    assert APIClient().get(attachment["url"]).status_code == 404
    assert Attachment.objects.filter(pk=attachment["id"]).exists()


def test_a_browser_session_uploads_with_csrf(session_client, conversation):
    refused = upload(session_client, conversation, image_bytes(), "a.png")
    assert refused.status_code == 403  # no CSRF token
    session_client.get("/")  # sets the CSRF cookie
    token = session_client.cookies["csrftoken"].value
    file = SimpleUploadedFile("a.png", image_bytes(), content_type="image/png")
    response = session_client.post(
        f"/api/conversations/{conversation.pk}/attachments/",
        {"file": file},
        format="multipart",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 201, response.content


def test_an_unsent_attachment_can_be_deleted_a_sent_one_cannot(api_client, conversation, settings):
    unsent = upload(api_client, conversation, image_bytes(), "a.png").json()
    sent = upload(api_client, conversation, image_bytes(), "b.png").json()
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content="見て", attachment_count=1
    )
    MessageAttachment.objects.create(message=message, attachment_id=sent["id"])
    with django_capture_on_commit():
        assert api_client.delete(f"/api/attachments/{unsent['id']}/").status_code == 204
    in_use = api_client.delete(f"/api/attachments/{sent['id']}/")
    assert in_use.status_code == 409
    assert in_use.json()["code"] == "attachment_in_use"
    assert list(Attachment.objects.values_list("pk", flat=True)) == [
        Attachment.objects.get(pk=sent["id"]).pk
    ]
    assert len(stored_files(settings)) == 1


def test_deleting_the_conversation_deletes_its_attachments_and_files(
    api_client, conversation, settings
):
    upload(api_client, conversation, image_bytes(), "a.png")
    upload(api_client, conversation, pdf_bytes(["text"]), "b.pdf")
    assert len(stored_files(settings)) == 2
    with django_capture_on_commit():
        assert api_client.delete(f"/api/conversations/{conversation.pk}/").status_code == 204
    assert not Attachment.objects.exists()
    assert stored_files(settings) == []


def django_capture_on_commit():
    """Run on_commit callbacks (the file deletion) inside the test's transaction."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


def test_the_admin_lists_attachments_read_only(client, api_client, conversation):
    from tests.factories import UserFactory

    sent = upload(api_client, conversation, pdf_bytes(["needle text"]), "spec.pdf").json()
    message = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content="読んで", attachment_count=1
    )
    MessageAttachment.objects.create(message=message, attachment_id=sent["id"], included_units=0)
    client.force_login(UserFactory(username="staff", is_staff=True, is_superuser=True))
    listing = client.get("/admin/conversations/attachment/")
    assert listing.status_code == 200 and "spec.pdf" in listing.content.decode()
    detail = client.get(f"/admin/conversations/attachment/{sent['id']}/change/").content.decode()
    assert "needle text" in detail
    assert 'name="name"' not in detail  # no editable field
    assert client.get("/admin/conversations/attachment/add/").status_code == 403
    page = client.get(f"/admin/conversations/message/{message.pk}/change/").content.decode()
    assert "全1ページ中 0ページ" in page
    conversation_page = client.get(f"/admin/conversations/conversation/{conversation.pk}/change/")
    assert "spec.pdf" in conversation_page.content.decode()


@pytest.mark.parametrize(
    ("name", "value", "check_id"),
    [
        ("ATTACHMENT_MAX_BYTES", "20MB", "kaiwa.E050"),
        ("ATTACHMENT_MAX_BYTES", 0, "kaiwa.E050"),
        ("ATTACHMENT_MAX_PER_MESSAGE", 0, "kaiwa.E051"),
    ],
)
def test_the_limits_are_checked(settings, name, value, check_id):
    from django.core import checks

    setattr(settings, name, value)
    errors = [m for m in checks.run_checks(tags=["kaiwa"]) if m.id == check_id]
    assert len(errors) == 1 and name in errors[0].msg


def test_uploads_have_a_rate_of_their_own(api_client, conversation, settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**rates, "attachments": "2/min"},
    }
    assert upload(api_client, conversation, b"one", "a.txt").status_code == 201
    assert upload(api_client, conversation, b"two", "b.txt").status_code == 201
    refused = upload(api_client, conversation, b"three", "c.txt")
    assert refused.status_code == 429 and refused.json()["code"] == "throttled"
    assert refused["Retry-After"]
    assert Attachment.objects.count() == 2
