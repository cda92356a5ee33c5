"""The reply events and their two wire formats (API.md sections 4 and 5)."""

import json

import pytest

from assistant.reply_events import (
    Delta,
    Done,
    Failed,
    Start,
    ToolCallMade,
    UnknownEvent,
    from_log,
    sse_frame,
    ws_frame,
)

EVENTS = [
    Start(message_id="m", seq=1, conversation_id="c", user_message_id="u", parent_id="u"),
    Delta(message_id="m", seq=2, content="こん"),
    ToolCallMade(message_id="m", seq=3, name="save_note", arguments={"a": 1}, result={"ok": 1}),
    Done(
        message_id="m",
        seq=4,
        status="complete",
        content="こん",
        html="<p>こん</p>",
        finish_reason="stop",
        usage={"prompt_tokens": 1, "completion_tokens": 2},
    ),
    Failed(message_id="m", seq=5, code="interrupted", error="The server stopped."),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_an_event_survives_the_log_and_a_broadcast_unchanged(event):
    assert from_log(json.loads(json.dumps(event.as_log()))) == event


def test_sse_frames_carry_the_sequence_number_as_id_and_the_event_as_data():
    frames = [sse_frame(e).decode() for e in EVENTS]
    assert [f.split("\n")[0] for f in frames] == [f"id: {n}" for n in range(1, 6)]
    data = [json.loads(f.split("\n")[1].removeprefix("data: ")) for f in frames]
    assert data[0] == {
        "type": "start",
        "message_id": "m",
        "conversation_id": "c",
        "user_message_id": "u",
        "parent_id": "u",
    }
    assert data[1] == {"type": "message", "message_id": "m", "content": "こん"}
    assert data[2]["type"] == "tool_call" and data[2]["result"] == {"ok": 1}
    assert data[3]["type"] == "done" and data[3]["status"] == "complete"
    assert data[3]["html"] == "<p>こん</p>" and data[3]["usage"]["completion_tokens"] == 2
    assert data[4] == {
        "type": "error",
        "message_id": "m",
        "code": "interrupted",
        "error": "The server stopped.",
    }
    assert all(f.endswith("\n\n") for f in frames)


def test_websocket_frames_use_the_socket_vocabulary():
    frames = [ws_frame(e) for e in EVENTS]
    assert frames[0] == {"type": "start", "message_id": "m", "seq": 1, "parent_id": "u"}
    assert frames[1] == {"type": "delta", "message_id": "m", "seq": 2, "content": "こん"}
    assert frames[2]["type"] == "tool_call" and frames[2]["arguments"] == {"a": 1}
    assert frames[3]["type"] == "done" and frames[3]["finish_reason"] == "stop"
    assert frames[4] == {
        "type": "error",
        "message_id": "m",
        "code": "interrupted",
        "message": "The server stopped.",
    }


def test_a_start_logged_without_parent_id_still_reads():
    logged = {"type": "start", "message_id": "m", "seq": 1, "conversation_id": "c"}
    start = from_log({**logged, "user_message_id": "u"})
    assert start.parent_id is None and ws_frame(start)["parent_id"] is None


def test_an_unknown_event_type_is_an_error_not_a_done():
    with pytest.raises(UnknownEvent):
        from_log({"type": "mystery", "message_id": "m", "seq": 1})
