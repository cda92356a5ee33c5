"""How much of a document goes to the model, and how it is framed (no database)."""

from django.utils import translation

from assistant.attachment_context import document_block, message_content, plan_included_units
from conversations.attachments.files import DOCX_CONTENT_TYPE
from conversations.attachments.services import included_note
from conversations.models import Attachment, Message, MessageAttachment


def document(name: str, parts: list[str], *, pdf: bool = False, **fields) -> Attachment:
    separator = "\f" if pdf else "\n"
    return Attachment(
        kind=Attachment.Kind.DOCUMENT,
        name=name,
        content_type="application/pdf" if pdf else fields.pop("content_type", "text/plain"),
        text=separator.join(parts),
        units=len(parts),
        pages=len(parts) if pdf else None,
        byte_size=1,
    )


def test_documents_that_fit_go_whole_and_the_next_is_cut_at_a_line():
    small = document("small.txt", ["short"])
    big = document("big.csv", [f"row {n}," + "x" * 36 for n in range(100)])  # ~11 tokens a line
    plan = plan_included_units(attachments=[small, big], budget_tokens=100)
    assert plan[small.pk] is None
    assert 0 < plan[big.pk] < 100
    block = document_block(big, plan[big.pk])
    assert block.count("\nrow ") == plan[big.pk]  # every included line
    assert f"row {plan[big.pk] - 1}," in block and f"row {plan[big.pk]}," not in block


def test_a_document_after_a_full_context_gets_none_and_says_so():
    first = document("first.txt", ["y" * 36] * 100)  # cut: it fills what there is
    second = document("second.docx", ["段落"] * 3, content_type=DOCX_CONTENT_TYPE)
    plan = plan_included_units(attachments=[first, second], budget_tokens=100)
    assert 0 < plan[first.pk] < 100 and plan[second.pk] == 0
    link = MessageAttachment(attachment=second, included_units=0)
    with translation.override("en"):
        assert included_note(link) == "none of the 3 paragraphs (the context was full)"
    with translation.override("ja"):
        assert included_note(link) == "全3段落中 0段落（コンテキストに収まりませんでした）"


def test_the_note_names_pages_lines_or_paragraphs():
    pdf = MessageAttachment(attachment=document("a.pdf", ["p"] * 40, pdf=True), included_units=12)
    text = MessageAttachment(attachment=document("a.txt", ["l"] * 9), included_units=2)
    whole = MessageAttachment(attachment=document("b.txt", ["l"] * 9), included_units=None)
    with translation.override("en"):
        assert included_note(pdf) == "pages 1–12 of 40"
        assert included_note(text) == "lines 1–2 of 9"
        assert included_note(whole) is None


def test_the_fence_is_longer_than_any_backticks_inside():
    tricky = document("README.md", ["```python", "print(1)", "```", "````"])
    block = document_block(tricky, None)
    assert block.startswith("README.md\n`````\n```python")
    assert block.endswith("````\n`````")


def test_a_message_of_attachments_alone_has_no_empty_text():
    image = Attachment(
        kind=Attachment.Kind.IMAGE, name="shot.png", content_type="image/png", width=8, height=8
    )
    doc = document("notes.txt", ["one", "two"])
    message = Message(role=Message.Role.USER, content="")
    image_link, doc_link = (MessageAttachment(attachment=a) for a in (image, doc))
    assert message_content(message, [image_link], sees=True, read_images=False) == [
        {"type": "image_url", "image_url": {"url": ""}}
    ]
    assert message_content(message, [image_link], sees=False) == (
        "[images not shown, this model cannot read images: shot.png]"
    )
    assert message_content(message, [doc_link], sees=True) == "notes.txt\n```\none\ntwo\n```"
    parts = message_content(message, [doc_link, image_link], sees=True, read_images=False)
    assert parts[0] == {"type": "text", "text": "notes.txt\n```\none\ntwo\n```"}
