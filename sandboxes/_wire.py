"""Length-prefixed JSON frames over raw file descriptors (both sides of the sandbox boundary)."""

from __future__ import annotations

import json
import os
import struct
from typing import Any

MAX_FRAME = 16 * 1024 * 1024


class WireError(EOFError):
    """The other side closed, died, or sent something that is not a frame."""


def send(fd: int, message: Any, _write: Any = os.write) -> None:
    body = json.dumps(message, separators=(",", ":")).encode()
    data = struct.pack("<I", len(body)) + body
    while data:
        written = _write(fd, data)
        data = data[written:]


def recv(fd: int, _read: Any = os.read) -> Any:
    header = _read_exactly(fd, 4, _read)
    (length,) = struct.unpack("<I", header)
    if length > MAX_FRAME:
        raise WireError(f"frame of {length} bytes exceeds the {MAX_FRAME}-byte cap")
    try:
        return json.loads(_read_exactly(fd, length, _read))
    except ValueError as err:
        raise WireError(f"malformed frame: {err}") from None


def _read_exactly(fd: int, count: int, _read: Any) -> bytes:
    chunks, remaining = [], count
    while remaining:
        chunk = _read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise WireError("closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
