"""Page through a job's stdout and stderr for GetTaskLogs.

OpCenter serves each log file whole, so paging happens here: ``lines`` asks for the last N lines
(or, with a token, the next N), and the header's token records how far each file was read, so a
later call continues where this one stopped. A response stays under ``MAX_RESPONSE_BYTES`` as
JSON (each line travels twice, as ``results`` and ``structured_lines``, escaped), far under
Lambda's 6 MB response cap and gRPC's 4 MB default message size.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass

from flyteidl.admin import agent_pb2

from connector.errors import InvalidArgument
from connector.opcenter.wire import STDERR_LOG, STDOUT_LOG

MAX_RESPONSE_BYTES = 1_000_000
# A longer line is clipped (saying so): one huge line (a progress bar, a blob) must not fill a
# response alone, or the token could never move past it. Even fully JSON-escaped, twice, it fits.
MAX_LINE_CHARS = 32 * 1024
_LINE_OVERHEAD = 64  # {"message":...,"originator":"USER"}, commas and quotes
LINES_PER_MESSAGE = 500
LOG_NAMES = (STDOUT_LOG, STDERR_LOG)
_TOKEN_KEYS = {STDOUT_LOG: "o", STDERR_LOG: "e"}


@dataclass(frozen=True)
class Cursor:
    """Byte offsets already read in each log file."""

    offsets: Mapping[str, int]

    def encode(self) -> str:
        data = {_TOKEN_KEYS[name]: self.offsets.get(name, 0) for name in LOG_NAMES}
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            data = json.loads(raw)
        except (binascii.Error, ValueError):
            raise InvalidArgument("token", "is not a token this connector handed out") from None
        if not isinstance(data, dict) or set(data) != set(_TOKEN_KEYS.values()):
            raise InvalidArgument("token", "is not a token this connector handed out")
        offsets = {}
        for name, key in _TOKEN_KEYS.items():
            value = data[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InvalidArgument("token", "holds an offset that is not a whole number >= 0")
            offsets[name] = value
        return cls(offsets)


def log_responses(
    files: Mapping[str, bytes], *, lines: int, token: str, finished: bool
) -> list[agent_pb2.GetTaskLogsResponse]:
    """A header with the next token, then body messages: per file a SYSTEM line naming it and its
    lines as USER lines. An unfinished job's last line may still be growing: it waits for later."""
    cursor = Cursor.decode(token) if token else None
    budget = MAX_RESPONSE_BYTES
    offsets: dict[str, int] = {}
    lines_by_file: dict[str, list[str]] = {}
    for name in LOG_NAMES:
        data = files.get(name, b"")
        if cursor is not None and cursor.offsets[name] > len(data):
            raise InvalidArgument("token", f"points past the end of {name}; was it for this job?")
        start, end, picked = _select(
            data, cursor.offsets[name] if cursor else None, lines, finished
        )
        kept: list[str] = []
        kept_bytes = 0
        for line in picked:
            text = _clip(line.decode(errors="replace").rstrip("\r\n"))
            cost = 2 * len(json.dumps(text)) + _LINE_OVERHEAD
            if cost > budget:
                break
            budget -= cost
            kept.append(text)
            kept_bytes += len(line)
        offsets[name] = start + kept_bytes if len(kept) < len(picked) else end
        if kept:
            lines_by_file[name] = kept

    header = agent_pb2.GetTaskLogsResponseHeader(token=Cursor(offsets).encode())
    responses = [agent_pb2.GetTaskLogsResponse(header=header)]
    for name, text_lines in lines_by_file.items():
        structured = [agent_pb2.LogLine(message=f"==> {name} <==", originator=agent_pb2.SYSTEM)]
        structured += [agent_pb2.LogLine(message=t, originator=agent_pb2.USER) for t in text_lines]
        for i in range(0, len(structured), LINES_PER_MESSAGE):
            chunk = structured[i : i + LINES_PER_MESSAGE]
            body = agent_pb2.GetTaskLogsResponseBody(
                results=[line.message for line in chunk], structured_lines=chunk
            )
            responses.append(agent_pb2.GetTaskLogsResponse(body=body))
    return responses


def _clip(text: str) -> str:
    if len(text) <= MAX_LINE_CHARS:
        return text
    return f"{text[:MAX_LINE_CHARS]} ... [{len(text) - MAX_LINE_CHARS} more characters not shown]"


def _select(
    data: bytes, offset: int | None, lines: int, finished: bool
) -> tuple[int, int, list[bytes]]:
    """(start, end, lines): the complete lines to return and the byte range they cover."""
    start = offset or 0
    segment = data[start:]
    chunks = segment.splitlines(keepends=True)
    if chunks and not chunks[-1].endswith((b"\n", b"\r")) and not finished:
        chunks.pop()  # still being written
    if lines > 0:
        if offset is None:
            skipped = chunks[:-lines]
            start += sum(len(c) for c in skipped)
            chunks = chunks[-lines:]
        else:
            chunks = chunks[:lines]
    return start, start + sum(len(c) for c in chunks), chunks
