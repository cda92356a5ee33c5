"""Sends with attachments: what the model receives, what is refused, what history keeps."""

import base64
import io
import json

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.services import api_token_create
from assistant.context import IMAGE_PART_TOKENS, MESSAGE_OVERHEAD_TOKENS, estimate_messages_tokens
from conversations.models import Attachment, Conversation, Message, MessageAttachment
from tests.attachment_files import docx_bytes, image_bytes, pdf_bytes
from tests.factories import ConversationFactory
from tests.fakes.openai_server import error, reply
from tests.streaming_clients import in_process_socket, post_event_stream
from usage.models import UsageRecord

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def vision(settings, llm_upstream):
    """The fake upstream's model reads images."""
    settings.LLM_VISION_MODELS = ["gpt-test*"]
    return llm_upstream


@pytest.fixture
def conversation(user):
    return ConversationFactory(owner=user, system_prompt="")


def upload(client, conversation, data: bytes, name: str) -> dict:
    file = SimpleUploadedFile(name, data, content_type="application/octet-stream")
    response = client.post(
        f"/api/conversations/{conversation.pk}/attachments/", {"file": file}, format="multipart"
    )
    assert response.status_code == 201, response.content
    return response.json()


def send(client, conversation, content: str, attachments: list[str]):
    return client.post(
        f"/api/conversations/{conversation.pk}/messages/",
        {"content": content, "attachments": attachments},
        format="json",
    )


def last_user_content(upstream):
    return upstream.chat_requests()[-1].json["messages"][-1]["content"]


def decoded_image(part: dict) -> Image.Image:
    url = part["image_url"]["url"]
    header, data = url.split(",", 1)
    assert header == "data:image/jpeg;base64"
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_the_model_receives_the_image_decoded_scaled_and_without_exif(
    api_client, vision, conversation
):
    vision.enqueue(reply("ホワイトボードです。"))
    photo = upload(
        api_client, conversation, image_bytes(3000, 1000, fmt="JPEG", gps=True), "board.jpg"
    )
    response = send(api_client, conversation, "これは何？", [photo["id"]])
    assert response.status_code == 201, response.content
    content = last_user_content(vision)
    assert content[0] == {"type": "text", "text": "これは何？"}
    assert content[1]["type"] == "image_url"
    image = decoded_image(content[1])
    assert image.size == (2048, 683)  # the long side fitted into 2048
    assert not image.getexif()
    user_message = response.json()["user_message"]
    assert [a["id"] for a in user_message["attachments"]] == [photo["id"]]
    assert user_message["attachments"][0]["included_note"] is None
    assert response.json()["assistant_message"]["attachments"] == []


def test_the_model_receives_the_document_text_under_its_file_name(
    api_client, llm_upstream, conversation
):
    llm_upstream.enqueue(reply("要約です。"))
    spec = upload(api_client, conversation, pdf_bytes(["Alpha spec", "Beta spec"]), "spec.pdf")
    memo = upload(api_client, conversation, docx_bytes(["議事録の本文"]), "memo.docx")
    response = send(api_client, conversation, "要約して", [spec["id"], memo["id"]])
    assert response.status_code == 201, response.content
    content = last_user_content(llm_upstream)
    # No image: a plain string, readable by any model.
    assert content == (
        "spec.pdf\n```\nAlpha spec\n\nBeta spec\n```\n\n"
        "memo.docx\n```\n議事録の本文\n```\n\n要約して"
    )


def test_a_document_over_the_budget_is_cut_at_a_page_and_the_cut_is_shown(
    api_client, llm_upstream, conversation, settings
):
    settings.LLM_CONTEXT_TOKENS = 150
    pages = [f"page {n} " + "word " * 40 for n in range(1, 11)]  # about 50 tokens each
    llm_upstream.enqueue(reply("読みました。"))
    spec = upload(api_client, conversation, pdf_bytes(pages), "long.pdf")
    response = send(api_client, conversation, "読んで", [spec["id"]])
    assert response.status_code == 201, response.content
    # The note is in the reader's language: Japanese by default.
    note = response.json()["user_message"]["attachments"][0]["included_note"]
    assert note == "全10ページ中 1–2ページ"
    content = last_user_content(llm_upstream)
    assert content.startswith("long.pdf (pages 1–2 of 10)\n```\npage 1 ")
    assert "page 2 " in content and "page 3 " not in content
    # History shows the same cut.
    messages = api_client.get(
        f"/api/conversations/{conversation.pk}/messages/", HTTP_ACCEPT_LANGUAGE="en"
    ).json()
    assert messages["results"][0]["attachments"][0]["included_note"] == "pages 1–2 of 10"
    # So does the chat page's view model.
    from django.utils import translation

    from conversations.message_items import message_items
    from conversations.tree import active_path

    with translation.override("ja"):
        items = message_items(active_path(Conversation.objects.get(pk=conversation.pk)))
    assert items[0].attachments[0]["name"] == "long.pdf"
    assert items[0].attachments[0]["included_note"] == "全10ページ中 1–2ページ"


def test_a_model_that_cannot_see_refuses_an_image_before_storing_or_calling(
    api_client, llm_upstream, conversation
):
    photo = upload(api_client, conversation, image_bytes(), "a.png")
    response = send(api_client, conversation, "見て", [photo["id"]])
    assert response.status_code == 422
    assert response.json()["code"] == "vision_unsupported"
    assert not Message.objects.exists()
    assert llm_upstream.chat_requests() == []


def test_too_many_attachments_are_refused(api_client, llm_upstream, conversation, settings):
    settings.ATTACHMENT_MAX_PER_MESSAGE = 1
    ids = [upload(api_client, conversation, image_bytes(), f"{n}.png")["id"] for n in range(2)]
    response = send(api_client, conversation, "二枚", ids)
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_attachments"
    assert not Message.objects.exists() and llm_upstream.chat_requests() == []


def test_another_users_or_conversations_attachment_cannot_be_sent(
    api_client, other_client, other_user, llm_upstream, conversation
):
    theirs = ConversationFactory(owner=other_user)
    foreign = upload(other_client, theirs, image_bytes(), "theirs.png")
    elsewhere = upload(api_client, ConversationFactory(owner=conversation.owner), b"hi", "a.txt")
    for attachment_id in (foreign["id"], elsewhere["id"]):
        response = send(api_client, conversation, "これ", [attachment_id])
        assert response.status_code == 404, response.content
        chat = api_client.post(
            "/api/chat/",
            {
                "message": "これ",
                "conversation_id": str(conversation.pk),
                "attachments": [attachment_id],
            },
            format="json",
        )
        assert chat.status_code == 404
    # Nor into a new conversation, nor into the owner's own message of theirs.
    assert (
        api_client.post(
            "/api/chat/", {"message": "x", "attachments": [foreign["id"]]}, format="json"
        ).status_code
        == 404
    )
    assert send(other_client, conversation, "x", [foreign["id"]]).status_code == 404
    assert not Message.objects.exists() and llm_upstream.chat_requests() == []
    assert not MessageAttachment.objects.exists()


def test_edit_keeps_the_attachments_unless_given_and_regenerate_keeps_them(
    api_client, llm_upstream, conversation
):
    llm_upstream.enqueue(reply("一"), reply("二"), reply("三"), reply("四"))
    doc = upload(api_client, conversation, b"first document", "a.txt")
    other = upload(api_client, conversation, b"second document", "b.txt")
    sent = send(api_client, conversation, "読んで", [doc["id"]]).json()
    user_id = sent["user_message"]["id"]
    reply_id = sent["assistant_message"]["id"]

    regenerated = api_client.post(f"/api/messages/{reply_id}/regenerate/", {}, format="json")
    assert regenerated.status_code == 201, regenerated.content
    assert "first document" in last_user_content(llm_upstream)

    edited = api_client.post(
        f"/api/messages/{user_id}/edit/", {"content": "もう一度読んで"}, format="json"
    )
    assert edited.status_code == 201, edited.content
    assert [a["id"] for a in edited.json()["user_message"]["attachments"]] == [doc["id"]]
    assert "first document" in last_user_content(llm_upstream)

    replaced = api_client.post(
        f"/api/messages/{user_id}/edit/",
        {"content": "こちらを", "attachments": [other["id"]]},
        format="json",
    )
    assert [a["id"] for a in replaced.json()["user_message"]["attachments"]] == [other["id"]]
    content = last_user_content(llm_upstream)
    assert "second document" in content and "first document" not in content


def test_history_carries_the_attachments_to_later_turns(api_client, llm_upstream, conversation):
    llm_upstream.enqueue(reply("一"), reply("二"))
    doc = upload(api_client, conversation, b"the facts", "facts.md")
    send(api_client, conversation, "覚えて", [doc["id"]])
    send(api_client, conversation, "何でしたっけ", [])
    sent = llm_upstream.chat_requests()[-1].json["messages"]
    assert sent[0]["content"] == "facts.md\n```\nthe facts\n```\n\n覚えて"
    assert sent[-1]["content"] == "何でしたっけ"


async def test_the_websocket_send_carries_attachments(user, vision, settings):
    conversation = await sync_to_async(ConversationFactory)(owner=user, system_prompt="")
    attachment = await sync_to_async(_stored_image)(user, conversation)
    vision.enqueue(reply("赤い四角です。"))
    socket = in_process_socket(user, conversation.pk)
    connected, _ = await socket.connect()
    assert connected
    try:
        await socket.send_json_to(
            {"type": "send", "content": "何色？", "attachments": [str(attachment.pk)]}
        )
        event = await socket.receive_json_from(timeout=5)
        assert event["type"] == "user_message"
        assert event["message"]["attachments"] == [
            {
                "id": str(attachment.pk),
                "kind": "image",
                "name": "red.png",
                "size": attachment.byte_size,
                "content_type": "image/png",
                "url": f"/api/attachments/{attachment.pk}/file/",
                "pages": None,
                "included_note": None,
            }
        ]
        while event["type"] != "done":
            event = await socket.receive_json_from(timeout=5)
        # Someone else's id is an error event; the socket stays open.
        await socket.send_json_to(
            {
                "type": "send",
                "content": "x",
                "attachments": ["00000000-0000-0000-0000-000000000000"],
            }
        )
        error = await socket.receive_json_from(timeout=5)
        assert (error["type"], error["code"]) == ("error", "not_found")
    finally:
        await socket.disconnect()
    content = vision.chat_requests()[-1].json["messages"][-1]["content"]
    assert content[1]["image_url"]["url"].startswith("data:image/png;base64,")


ENGLISH_NOTE, JAPANESE_NOTE = "pages 1–2 of 10", "全10ページ中 1–2ページ"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"accept-language", b"en-US,en;q=0.9")], ENGLISH_NOTE),
        # The language switcher's cookie wins over the browser's header, as on the page.
        (
            [(b"cookie", b"csrftoken=x; django_language=en"), (b"accept-language", b"ja")],
            ENGLISH_NOTE,
        ),
        ([(b"cookie", b"django_language=ja"), (b"accept-language", b"en")], JAPANESE_NOTE),
        ([], JAPANESE_NOTE),
    ],
    ids=["accept-language", "cookie-en", "cookie-ja", "default"],
)
async def test_the_websocket_speaks_the_readers_language(
    user, llm_upstream, settings, headers, expected
):
    settings.LLM_CONTEXT_TOKENS = 150
    conversation = await sync_to_async(ConversationFactory)(owner=user, system_prompt="")
    pages = [f"page {n} " + "word " * 40 for n in range(1, 11)]  # about 50 tokens each
    attachment = await sync_to_async(_stored_file)(user, conversation, pdf_bytes(pages), "l.pdf")
    llm_upstream.enqueue(reply("読みました。"))
    socket = in_process_socket(user, conversation.pk, headers=headers)
    assert (await socket.connect())[0]
    try:
        await socket.send_json_to(
            {"type": "send", "content": "読んで", "attachments": [str(attachment.pk)]}
        )
        event = await socket.receive_json_from(timeout=5)
        assert event["type"] == "user_message"
        assert event["message"]["attachments"][0]["included_note"] == expected
        while event["type"] != "done":
            event = await socket.receive_json_from(timeout=5)
    finally:
        await socket.disconnect()
    # The model reads the note in English whatever the reader's language.
    assert last_user_content(llm_upstream).startswith(f"l.pdf ({ENGLISH_NOTE})\n")


def _stored_file(user, conversation, data: bytes, name: str) -> Attachment:
    from conversations.attachments.services import attachment_create

    file = SimpleUploadedFile(name, data, content_type="application/octet-stream")
    return attachment_create(user=user, conversation=conversation, upload=file)


def _stored_image(user, conversation) -> Attachment:
    from conversations.attachments.services import attachment_create

    file = SimpleUploadedFile("red.png", image_bytes(), content_type="image/png")
    return attachment_create(user=user, conversation=conversation, upload=file)


async def test_the_event_stream_send_carries_attachments(user, llm_upstream):
    conversation = await sync_to_async(ConversationFactory)(owner=user, system_prompt="")
    attachment = await sync_to_async(_stored_text)(user, conversation)
    token = await sync_to_async(api_token_create)(user=user, name="sse")
    llm_upstream.enqueue(reply("読みました。"))
    events = await post_event_stream(
        f"/api/conversations/{conversation.pk}/messages/stream/",
        {"content": "読んで", "attachments": [str(attachment.pk)]},
        token=token[1],
    )
    assert events[-1]["type"] == "done"
    assert "stream me" in last_user_content(llm_upstream)
    linked = await sync_to_async(
        lambda: list(
            MessageAttachment.objects.filter(message__role="user").values_list(
                "attachment_id", flat=True
            )
        )
    )()
    assert linked == [attachment.pk]


def _stored_text(user, conversation) -> Attachment:
    from conversations.attachments.services import attachment_create

    file = SimpleUploadedFile("s.txt", b"stream me", content_type="text/plain")
    return attachment_create(user=user, conversation=conversation, upload=file)


def test_the_conversation_is_untouched_by_a_refused_send(api_client, llm_upstream, conversation):
    before = Conversation.objects.get(pk=conversation.pk).updated_at
    response = send(api_client, conversation, "x", ["not-a-uuid"])
    assert response.status_code == 400
    assert json.loads(response.content)["attachments"]
    assert Conversation.objects.get(pk=conversation.pk).updated_at == before


def test_the_demo_backend_takes_images_and_documents(api_client, conversation):
    photo = upload(api_client, conversation, image_bytes(), "a.png")
    doc = upload(api_client, conversation, b"demo text", "a.txt")
    response = send(api_client, conversation, "見て", [photo["id"], doc["id"]])
    assert response.status_code == 201, response.content
    assert response.json()["assistant_message"]["status"] == "complete"
    assert len(response.json()["user_message"]["attachments"]) == 2
    assert "It also received 1 image." in response.json()["assistant_message"]["content"]


def test_a_provider_refusing_the_image_part_answers_vision_unsupported(
    api_client, vision, conversation
):
    vision.enqueue(
        error(
            400,
            {
                "error": {
                    "message": "Invalid content type. image_url is only supported by certain "
                    "models.",
                    "type": "invalid_request_error",
                    "param": "messages.[0].content.[1].type",
                    "code": None,
                }
            },
        )
    )
    photo = upload(api_client, conversation, image_bytes(), "a.png")
    response = send(api_client, conversation, "見て", [photo["id"]])
    assert response.status_code == 422, response.content
    assert response.json()["code"] == "vision_unsupported"
    stored = Message.objects.get(conversation=conversation, role="assistant")
    assert (stored.status, stored.error_code) == ("failed", "vision_unsupported")
    # The user's message and its image are kept.
    assert Message.objects.get(conversation=conversation, role="user").attachment_count == 1


def test_the_ledger_counts_the_image_tokens_the_provider_reports(
    api_client, vision, conversation, user
):
    vision.enqueue(reply("赤です。", usage=(1234, 5)))
    photo = upload(api_client, conversation, image_bytes(), "a.png")
    assert send(api_client, conversation, "色は？", [photo["id"]]).status_code == 201
    record = UsageRecord.objects.get(user=user, kind="chat")
    assert (record.prompt_tokens, record.completion_tokens) == (1234, 5)


def test_the_local_estimate_counts_image_parts():
    text = {"type": "text", "text": "abcd"}
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    with_image = estimate_messages_tokens([{"role": "user", "content": [text, image]}])
    assert with_image == MESSAGE_OVERHEAD_TOKENS + 1 + IMAGE_PART_TOKENS
    assert IMAGE_PART_TOKENS == 85 + 170 * 4 * 2  # 2048 × 768: the largest image stored


def test_regenerating_with_a_model_that_cannot_see_is_refused(
    api_client, vision, conversation, settings
):
    settings.LLM_MODELS = "gpt-test,gpt-blind"
    vision.enqueue(reply("見えます。"))
    photo = upload(api_client, conversation, image_bytes(), "a.png")
    sent = send(api_client, conversation, "見て", [photo["id"]]).json()
    before = Message.objects.count()
    response = api_client.post(
        f"/api/messages/{sent['assistant_message']['id']}/regenerate/",
        {"model": "gpt-blind"},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["code"] == "vision_unsupported"
    assert Message.objects.count() == before and len(vision.chat_requests()) == 1


def test_older_images_reach_a_model_that_cannot_see_as_a_line_of_text(
    api_client, vision, conversation, settings
):
    settings.LLM_MODELS = "gpt-test,gpt-blind"
    vision.enqueue(reply("見えます。"), reply("文字で。"))
    photo = upload(api_client, conversation, image_bytes(), "board.png")
    send(api_client, conversation, "見て", [photo["id"]])
    conversation.model = "gpt-blind"
    conversation.save(update_fields=["model"])
    assert send(api_client, conversation, "続けて", []).status_code == 201
    first = vision.chat_requests()[-1].json["messages"][0]
    assert first["content"] == (
        "見て\n\n[images not shown, this model cannot read images: board.png]"
    )


def test_exports_list_the_attachments(api_client, llm_upstream, conversation):
    llm_upstream.enqueue(reply("はい。"))
    doc = upload(api_client, conversation, b"exported", "notes.md")
    send(api_client, conversation, "保存して", [doc["id"]])
    exported = api_client.get(f"/api/conversations/{conversation.pk}/export/?format=json").json()
    assert exported["messages"][0]["attachments"][0]["name"] == "notes.md"
    assert exported["messages"][1]["attachments"] == []
    markdown = api_client.get(f"/api/conversations/{conversation.pk}/export/?format=md")
    assert "- attachment: notes.md (text/markdown, 8 bytes)" in markdown.content.decode()


def test_clearing_deletes_the_sent_attachments_and_keeps_the_unsent(
    api_client, llm_upstream, conversation, settings
):
    from django.test import TestCase

    llm_upstream.enqueue(reply("はい。"))
    sent = upload(api_client, conversation, b"sent", "a.txt")
    unsent = upload(api_client, conversation, b"unsent", "b.txt")
    send(api_client, conversation, "読んで", [sent["id"]])
    with TestCase.captureOnCommitCallbacks(execute=True):
        cleared = api_client.post(f"/api/conversations/{conversation.pk}/clear/")
    assert cleared.json() == {"deleted": 2}
    assert list(Attachment.objects.values_list("name", flat=True)) == ["b.txt"]
    files = list((settings.MEDIA_ROOT / "images" / "attachments").iterdir())
    assert [f.name for f in files] == [
        Attachment.objects.get(pk=unsent["id"]).file.name.split("/")[-1]
    ]


async def test_a_websocket_edit_keeps_or_replaces_the_attachments(user, llm_upstream):
    conversation = await sync_to_async(ConversationFactory)(owner=user, system_prompt="")
    first = await sync_to_async(_stored_text)(user, conversation)
    llm_upstream.enqueue(reply("一"), reply("二"), reply("三"))
    socket = in_process_socket(user, conversation.pk)
    assert (await socket.connect())[0]

    async def until_done() -> dict:
        event = await socket.receive_json_from(timeout=5)
        user_message = event
        while event["type"] != "done":
            event = await socket.receive_json_from(timeout=5)
        return user_message

    try:
        await socket.send_json_to(
            {"type": "send", "content": "読んで", "attachments": [str(first.pk)]}
        )
        original = (await until_done())["message"]
        await socket.send_json_to(
            {"type": "edit", "message_id": original["id"], "content": "もう一度"}
        )
        kept = (await until_done())["message"]
        assert [a["id"] for a in kept["attachments"]] == [str(first.pk)]
        await socket.send_json_to(
            {"type": "edit", "message_id": original["id"], "content": "なしで", "attachments": []}
        )
        dropped = (await until_done())["message"]
        assert dropped["attachments"] == []
    finally:
        await socket.disconnect()
    assert "stream me" not in llm_upstream.chat_requests()[-1].json["messages"][-1]["content"]


def test_an_interrupted_turn_is_charged_its_images_as_estimated(user, conversation, settings):
    from datetime import timedelta

    from django.utils import timezone

    from assistant.reply_lifecycle import recover_stale_replies
    from conversations.attachments.services import attachments_link

    settings.STREAM_STALE_AFTER_SECONDS = 5
    image = _stored_image(user, conversation)
    question = Message.objects.create(
        conversation=conversation, role=Message.Role.USER, content="見て", attachment_count=1
    )
    attachments_link(message=question, attachments=[image])
    dead = Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.STREAMING,
        parent=question,
        reply_to=question,
        heartbeat_at=timezone.now() - timedelta(seconds=60),
    )
    Conversation.objects.filter(pk=conversation.pk).update(active_turn=dead, active_leaf=dead)
    assert recover_stale_replies(conversation_id=conversation.pk) == 1
    record = UsageRecord.objects.get(user=user)
    assert record.prompt_tokens >= IMAGE_PART_TOKENS


# --- a message of attachments alone ------------------------------------------------------


def test_a_message_may_be_attachments_alone(api_client, client, user, vision):
    conversation = ConversationFactory(owner=user, system_prompt="", title="")
    vision.enqueue(reply("赤い四角です。"), reply("はい。"))
    shot = upload(api_client, conversation, image_bytes(), "screenshot.png")
    response = send(api_client, conversation, "", [shot["id"]])
    assert response.status_code == 201, response.content
    assert response.json()["user_message"]["content"] == ""
    assert response.json()["assistant_message"]["content"] == "赤い四角です。"
    # The image alone: no empty text part (providers refuse one).
    content = last_user_content(vision)
    assert [part["type"] for part in content] == ["image_url"]
    assert decoded_image_of(content[0]).size == (64, 48)
    # The first-words title is the file's name.
    conversation.refresh_from_db()
    assert conversation.title == "screenshot.png"
    # Whitespace alone is no text either; a document alone is its block.
    doc = upload(api_client, conversation, b"the facts", "facts.md")
    response = send(api_client, conversation, " \n ", [doc["id"]])
    assert response.status_code == 201, response.content
    assert response.json()["user_message"]["content"] == ""
    assert last_user_content(vision) == "facts.md\n```\nthe facts\n```"
    # History and exports show both messages with their files.
    listed = api_client.get(f"/api/conversations/{conversation.pk}/messages/").json()["results"]
    assert [(m["content"], len(m["attachments"])) for m in listed if m["role"] == "user"] == [
        ("", 1),
        ("", 1),
    ]
    markdown = api_client.get(f"/api/conversations/{conversation.pk}/export/?format=md")
    text = markdown.content.decode()
    assert text.startswith("# screenshot.png\n")
    assert "- attachment: screenshot.png (image/png" in text
    assert "- attachment: facts.md (text/markdown, 9 bytes)" in text
    client.force_login(user)
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert page.count("data-attachment-name>screenshot.png<") == 1
    assert page.count("data-attachment-name>facts.md<") == 1


def decoded_image_of(part: dict) -> Image.Image:
    _header, data = part["image_url"]["url"].split(",", 1)
    return Image.open(io.BytesIO(base64.b64decode(data)))


def test_an_empty_message_without_attachments_is_refused_as_before(
    api_client, llm_upstream, conversation
):
    path = f"/api/conversations/{conversation.pk}/messages/"
    for body in ({"content": "  "}, {"content": "", "attachments": []}):
        response = api_client.post(path, body, format="json", HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 400
        assert response.json() == {"content": ["This field may not be blank."]}
    # DRF's own message for "", in the reader's language as always.
    response = api_client.post(path, {"content": ""}, format="json")
    assert response.json() == {"content": ["この項目は空にできません。"]}
    chat = api_client.post("/api/chat/", {"message": " "}, format="json")
    assert chat.json() == {"message": ["This field may not be blank."]}
    assert not Message.objects.exists() and llm_upstream.chat_requests() == []


def test_the_chat_endpoint_and_edits_take_attachments_alone(api_client, llm_upstream, conversation):
    llm_upstream.enqueue(reply("一"), reply("二"))
    doc = upload(api_client, conversation, b"chat facts", "c.txt")
    chat = api_client.post(
        "/api/chat/",
        {"message": "", "conversation_id": str(conversation.pk), "attachments": [doc["id"]]},
        format="json",
    )
    assert chat.status_code == 200, chat.content
    assert last_user_content(llm_upstream) == "c.txt\n```\nchat facts\n```"
    user_message = Message.objects.get(role="user")
    # An empty edit keeps the edited message's files: it carries them.
    edited = api_client.post(
        f"/api/messages/{user_message.pk}/edit/", {"content": ""}, format="json"
    )
    assert edited.status_code == 201, edited.content
    assert [a["id"] for a in edited.json()["user_message"]["attachments"]] == [doc["id"]]
    # An empty edit that drops them is an empty message.
    dropped = api_client.post(
        f"/api/messages/{user_message.pk}/edit/",
        {"content": "", "attachments": []},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert dropped.status_code == 400
    assert dropped.json() == {"content": ["This field may not be blank."]}
    assert len(llm_upstream.chat_requests()) == 2


async def test_the_event_stream_takes_attachments_alone(user, llm_upstream):
    conversation = await sync_to_async(ConversationFactory)(owner=user, system_prompt="")
    attachment = await sync_to_async(_stored_text)(user, conversation)
    token = await sync_to_async(api_token_create)(user=user, name="sse")
    llm_upstream.enqueue(reply("読みました。"))
    events = await post_event_stream(
        f"/api/conversations/{conversation.pk}/messages/stream/",
        {"content": "", "attachments": [str(attachment.pk)]},
        token=token[1],
    )
    assert events[-1]["type"] == "done" and events[-1]["content"] == "読みました。"
    assert last_user_content(llm_upstream) == "s.txt\n```\nstream me\n```"


async def test_the_websocket_sends_and_edits_attachments_alone(user, vision):
    conversation = await sync_to_async(ConversationFactory)(owner=user, system_prompt="", title="")
    image = await sync_to_async(_stored_image)(user, conversation)
    vision.enqueue(reply("赤です。"), reply("やはり赤です。"))
    socket = in_process_socket(user, conversation.pk)
    assert (await socket.connect())[0]

    async def until_done() -> dict:
        first = event = await socket.receive_json_from(timeout=5)
        while event["type"] not in ("done", "error"):
            event = await socket.receive_json_from(timeout=5)
        return first

    try:
        await socket.send_json_to({"type": "send", "content": "", "attachments": [str(image.pk)]})
        sent = await until_done()
        assert sent["type"] == "user_message"
        assert sent["message"]["content"] == ""
        assert [a["name"] for a in sent["message"]["attachments"]] == ["red.png"]
        assert [p["type"] for p in last_user_content(vision)] == ["image_url"]
        # Without attachments an empty send is refused as before; the socket stays open.
        await socket.send_json_to({"type": "send", "content": " "})
        refused = await socket.receive_json_from(timeout=5)
        assert refused == {
            "type": "error",
            "message_id": None,
            "code": "invalid",
            "message": "The message is empty.",
        }
        message_id = sent["message"]["id"]
        await socket.send_json_to(
            {"type": "edit", "message_id": message_id, "content": "", "attachments": []}
        )
        assert (await socket.receive_json_from(timeout=5))["message"] == "The message is empty."
        await socket.send_json_to({"type": "edit", "message_id": message_id, "content": ""})
        edited = await until_done()
        assert edited["type"] == "user_message"
        assert [a["id"] for a in edited["message"]["attachments"]] == [str(image.pk)]
    finally:
        await socket.disconnect()
    assert len(vision.chat_requests()) == 2
    conversation = await sync_to_async(Conversation.objects.get)(pk=conversation.pk)
    assert conversation.title == "red.png"


def test_the_title_call_reads_the_file_names_of_a_message_without_text(user, vision, conversation):
    from assistant.turn_runner.loading import load_started_turn
    from assistant.turns import turn_start

    image = _stored_image(user, conversation)
    doc = _stored_text(user, conversation)
    turn = turn_start(
        user=user, conversation=conversation, content="", attachments=[doc.pk, image.pk]
    )
    loaded = load_started_turn(turn, user=user)
    assert loaded.question == "[attached: s.txt, red.png]"
