"""Broken frames and malformed JSON-RPC against the real server over stdio.

What an LSP server can do, and what this one does:
- A message that is JSON but no valid request, with an id the client can match, is answered:
  -32600 (no "jsonrpc": "2.0", a method that is no string, an id that is no number or string:
  then with id null), -32601 (an unknown method, with or without params), -32602 (params of
  the wrong shape). A batch, or any other JSON value, gets -32600 with id null: LSP has no
  batches. Notifications and stray responses get no answer, as JSON-RPC says.
- A body that is not JSON, or nested deeper than the parser goes (~2,900 levels), names no id
  anyone could match: it is logged and dropped. JSON-RPC's -32700 (id null) would tell a
  client nothing more; its request is simply never answered.
- A Content-Length that lies desynchronises the stream: there is no recovering the lying frame
  (nor, when the length is too long, the frame whose bytes it swallowed). The server finds the
  next header again, wherever the leftover bytes put it, and goes on with the frame after.
  A length too long also makes it wait for bytes that may never come, as any LSP server would.
- Garbage between frames is skipped, and a Content-Length above 1 GiB skips its frame instead
  of allocating it (pygls's read(n) raised MemoryError, which ended the server).
After every case the process is alive and answers lensflow.listExperiments.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .rawlsp import RawLsp, frame, message_frame, shorten
from .support import EXAMPLES, fuzz_settings, serving, still_serves

ID = 900_001  # ids of the broken requests; the client's own count stays far below

TRIED: Counter[str] = Counter()  # requests sent, by what was tried; printed at the end


@pytest.fixture(scope="module")
def lsp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawLsp]:
    try:
        with serving(tmp_path_factory.mktemp("frame-fuzz")) as server:
            yield server
    finally:
        print(f"\nframe fuzz: {sum(TRIED.values())} frames: {dict(sorted(TRIED.items()))}")


def get_workspace(msg_id: Any = ID) -> dict[str, Any]:
    params = {"command": "lensflow.getWorkspace", "arguments": []}
    return {"jsonrpc": "2.0", "id": msg_id, "method": "workspace/executeCommand", "params": params}


def unmatched_since(lsp: RawLsp, before: int) -> list[dict[str, Any]]:
    """Answers with id null that came after `before` of them. Answers go out in order, so once
    a later request is answered, any answer to an earlier message has come too."""
    return lsp.unmatched[before:]


# ---------------------------------------------------------------------- JSON, not a request
@pytest.mark.parametrize(
    "body",
    [b"[]", json.dumps([get_workspace(), {"jsonrpc": "2.0", "id": ID + 1, "method": "shutdown"}])
     .encode(), b'"initialize"', b"5", b"null", b"true"],
    ids=["empty batch", "batch", "string", "number", "null", "true"],
)  # fmt: skip
def test_json_that_is_no_object_gets_invalid_request(lsp: RawLsp, body: bytes) -> None:
    TRIED["not an object"] += 1
    before = len(lsp.unmatched)
    lsp.send_bytes(frame(body))
    still_serves(lsp)  # the batch's shutdown was not run
    answers = unmatched_since(lsp, before)
    assert [a["error"]["code"] for a in answers] == [-32600], (body, answers)
    assert answers[0]["id"] is None


REQUESTS: list[tuple[str, dict[str, Any], int]] = [
    ("no jsonrpc", {"id": ID, "method": "lensflow/x", "params": {}}, -32600),
    ("jsonrpc 1.0", {**get_workspace(), "jsonrpc": "1.0"}, -32600),
    ("jsonrpc number", {**get_workspace(), "jsonrpc": 2}, -32600),
    ("method number", {"jsonrpc": "2.0", "id": ID, "method": 5}, -32600),
    ("method null", {"jsonrpc": "2.0", "id": ID, "method": None, "params": {}}, -32600),
    ("params string", {**get_workspace(), "params": "lensflow.getWorkspace"}, -32602),
    ("params list", {**get_workspace(), "params": ["lensflow.getWorkspace"]}, -32602),
    ("command number", {**get_workspace(), "params": {"command": 5}}, -32602),
    ("arguments string", {**get_workspace(), "params": {"command": "lensflow.getWorkspace",
                                                        "arguments": "{}"}}, -32602),
    ("hover of nothing", {"jsonrpc": "2.0", "id": ID, "method": "textDocument/hover",
                          "params": {"textDocument": 5}}, -32602),
    ("initialize null", {"jsonrpc": "2.0", "id": ID, "method": "initialize", "params": None},
     -32602),
    ("unknown method", {"jsonrpc": "2.0", "id": ID, "method": "lensflow/nothing"}, -32601),
    ("unknown, params string", {"jsonrpc": "2.0", "id": ID, "method": "x/y", "params": "z"},
     -32601),
    ("unknown command", {**get_workspace(), "params": {"command": "lensflow.nothing"}}, -32602),
    ("string id", {**get_workspace("fuzz-id")}, 0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("message", "code"), [r[1:] for r in REQUESTS], ids=[r[0] for r in REQUESTS]
)
def test_malformed_requests_are_answered(lsp: RawLsp, message: dict[str, Any], code: int) -> None:
    """Each has an id the client can match: it gets its error (0: a result), never silence."""
    TRIED["malformed request"] += 1
    lsp.send(message)
    answer = lsp.answer(message["id"])
    got = answer["error"]["code"] if "error" in answer else 0
    assert got == code, f"sent {shorten(message)}\n  answer {shorten(answer)}"
    if code == -32602:
        assert answer["error"]["data"]["errors"], answer
    still_serves(lsp)


@pytest.mark.parametrize(
    "bad_id", [{"a": 1}, [1], True, False], ids=["object", "array", "true", "false"]
)
def test_an_id_of_the_wrong_type_gets_invalid_request(lsp: RawLsp, bad_id: Any) -> None:
    TRIED["malformed request"] += 1
    before = len(lsp.unmatched)
    lsp.send(get_workspace(bad_id))
    still_serves(lsp)
    answers = unmatched_since(lsp, before)
    assert [(a["id"], a["error"]["code"]) for a in answers] == [(None, -32600)], answers


NO_ANSWER: list[tuple[str, dict[str, Any]]] = [
    ("exit without jsonrpc", {"method": "exit"}),  # not a message: the server must not exit
    ("cancel without id", {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {}}),
    ("cancel of nothing", {"jsonrpc": "2.0", "method": "$/cancelRequest", "params": {"id": 77}}),
    ("didOpen string", {"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": "x"}),
    ("didChange of nothing", {"jsonrpc": "2.0", "method": "textDocument/didChange",
                              "params": {"textDocument": {"uri": "file:///nowhere.py",
                                                          "version": 2}, "contentChanges": []}}),
    ("config garbage", {"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration",
                        "params": {"settings": [1, 2]}}),
    ("unknown notification", {"jsonrpc": "2.0", "method": "lensflow/nothing"}),
    ("response without result", {"jsonrpc": "2.0", "id": ID}),
    ("response to nothing", {"jsonrpc": "2.0", "id": ID, "result": {"x": 1}}),
    ("error to nothing", {"jsonrpc": "2.0", "id": ID, "error": "boom"}),
]  # fmt: skip


@pytest.mark.parametrize("message", [r[1] for r in NO_ANSWER], ids=[r[0] for r in NO_ANSWER])
def test_notifications_and_responses_get_no_answer(lsp: RawLsp, message: dict[str, Any]) -> None:
    TRIED["notification or response"] += 1
    lsp.answers.pop(ID, None)
    before = len(lsp.unmatched)
    lsp.send(message)
    still_serves(lsp)
    assert ID not in lsp.answers, lsp.answers[ID]
    assert not unmatched_since(lsp, before), unmatched_since(lsp, before)


# ---------------------------------------------------------------------- broken framing
def pad(size: int) -> bytes:
    """A harmless notification frame whose body is at least `size` bytes long."""
    body = {"jsonrpc": "2.0", "method": "lensflow/fuzzPadding", "params": {"p": "x" * size}}
    return message_frame(body)


@fuzz_settings()
@given(extra=st.integers(min_value=1, max_value=4096))
def test_a_content_length_too_long(lsp: RawLsp, extra: int) -> None:
    """The lying frame swallows `extra` bytes of the padding frame after it; both are lost
    (and unanswered); the frame after them is read."""
    TRIED["content-length too long"] += 1
    body = json.dumps(get_workspace()).encode()
    lsp.send_bytes(frame(body, len(body) + extra) + pad(extra))
    still_serves(lsp)
    assert ID not in lsp.answers


@fuzz_settings()
@given(data=st.data())
def test_a_content_length_too_short(lsp: RawLsp, data: st.DataObject) -> None:
    TRIED["content-length too short"] += 1
    body = json.dumps(get_workspace()).encode()
    short = data.draw(st.integers(min_value=0, max_value=len(body) - 1), label="length")
    lsp.send_bytes(frame(body, short))
    still_serves(lsp)
    assert ID not in lsp.answers


BODY = json.dumps(get_workspace()).encode()
HEADERS: list[tuple[str, bytes]] = [
    ("no header", BODY),
    ("length 0", b"Content-Length: 0\r\n\r\n" + BODY),
    ("length negative", b"Content-Length: -5\r\n\r\n" + BODY),
    ("length not a number", b"Content-Length: five\r\n\r\n" + BODY),
    ("no space", b"Content-Length:%d\r\n\r\n" % len(BODY) + BODY),
    ("LF only", b"Content-Length: %d\n\n" % len(BODY) + BODY),
    ("lowercase", b"content-length: %d\r\n\r\n" % len(BODY) + BODY),
    ("100 GB", b"Content-Length: 99999999999\r\n\r\n" + BODY),
    ("10^30 bytes", b"Content-Length: 1" + b"0" * 30 + b"\r\n\r\n" + BODY),
    ("no blank line", b"Content-Length: %d\r\n" % len(BODY) + BODY),
    ("not UTF-8", frame(b'{"jsonrpc": "2.0", "id": 900001, "method": "\xff\xfe"}')),
    ("not JSON", frame(b"{not json")),
    ("nested 100,000 deep", frame(b"[" * 100_000 + b"]" * 100_000)),
    ("request nested 100,000 deep", frame(
        json.dumps(get_workspace())[:-2].encode() + b', "x": ' + b"[" * 100_000
        + b"]" * 100_000 + b"}}")),
]  # fmt: skip


@pytest.mark.parametrize("data", [h[1] for h in HEADERS], ids=[h[0] for h in HEADERS])
def test_broken_headers_and_bodies(lsp: RawLsp, data: bytes) -> None:
    """Such a frame is lost (pygls reads only "Content-Length: <n>\\r\\n" headers, as the LSP
    spec writes them). A header without its blank line makes the next frame its body: a padding
    frame goes first, so the request after it is read."""
    TRIED["broken header or body"] += 1
    lsp.answers.pop(ID, None)
    lsp.send_bytes(data + pad(len(data)))
    still_serves(lsp)
    assert ID not in lsp.answers


@fuzz_settings(EXAMPLES * 4)
@given(garbage=st.binary(min_size=1, max_size=512).filter(lambda b: b"Content-Length" not in b))
def test_garbage_between_frames(lsp: RawLsp, garbage: bytes) -> None:
    TRIED["garbage between frames"] += 1
    lsp.send_bytes(garbage)
    still_serves(lsp)


@fuzz_settings(EXAMPLES * 4)
@given(body=st.binary(max_size=512) | st.text(max_size=200).map(str.encode))
def test_any_body_in_a_good_frame(lsp: RawLsp, body: bytes) -> None:
    TRIED["random body"] += 1
    lsp.send_bytes(frame(body))
    still_serves(lsp)
