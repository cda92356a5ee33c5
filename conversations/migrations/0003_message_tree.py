"""Messages form a tree: each existing conversation becomes a chain.

Every visible message (a user message or a reply) gets the one before it, in (created_at, id)
order, as its parent; the conversation's active leaf is the last one. Tool-call and
tool-result messages are attached to the reply of their turn (the reply to the user message
before them) and stay out of the chain. Nothing is deleted or rewritten but these links.
"""

import django.db.models.deletion
from django.db import migrations, models

_BATCH = 500


def _is_tool_message(message) -> bool:
    return message.role == "tool" or (message.role == "assistant" and bool(message.tool_calls))


def chain_existing_conversations(apps, schema_editor):
    Conversation = apps.get_model("conversations", "Conversation")
    Message = apps.get_model("conversations", "Message")
    for conversation in Conversation.objects.only("pk").iterator(chunk_size=_BATCH):
        messages = list(
            Message.objects.filter(conversation_id=conversation.pk)
            .only("pk", "role", "tool_calls", "reply_to_id")
            .order_by("created_at", "id")
        )
        if not messages:
            continue
        # The reply of each turn, by its user message (the newest, should there be several).
        reply_of_turn = {
            m.reply_to_id: m.pk
            for m in messages
            if m.role == "assistant" and m.reply_to_id and not _is_tool_message(m)
        }
        previous = None
        turn = None  # the user message the messages that follow belong to
        for message in messages:
            if message.role == "user":
                turn = message.pk
            if _is_tool_message(message) and reply_of_turn.get(turn) is not None:
                message.turn_reply_id = reply_of_turn[turn]
                continue
            message.parent_id = previous
            previous = message.pk
        Message.objects.bulk_update(messages, ["parent", "turn_reply"], batch_size=_BATCH)
        Conversation.objects.filter(pk=conversation.pk).update(active_leaf_id=previous)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0002_conversation_client_id"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="children",
                to="conversations.message",
                verbose_name="parent",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="turn_reply",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="tool_messages",
                to="conversations.message",
                verbose_name="reply of the turn",
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="active_leaf",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="conversations.message",
                verbose_name="active leaf",
            ),
        ),
        migrations.RunPython(chain_existing_conversations, migrations.RunPython.noop),
    ]
