"""Direct-TCP transport framing ([MS-SMB2] 2.1): a 4-byte header (zero byte + 24-bit big-endian length).

The same port also takes the two other RFC 1002 (NetBIOS session service, 4.3) packets clients send
there, as Samba does: a SESSION REQUEST (type 0x81) comes out as :data:`NBSS_SESSION_REQUEST` (the
engine answers it with a POSITIVE SESSION RESPONSE), a SESSION KEEP ALIVE (0x85) is discarded
(RFC 1002 4.3.7). Any other type breaks the framing.

:class:`FrameReader` is a sans-I/O buffer that hands out the writable region the transport should
receive into (``get_buffer``) and returns complete frames after ``buffer_updated``. An idle connection
holds no receive buffer at all: every reader of the process receives into one shared area
(:class:`RecvArea`, 256 KiB), which is safe because an event loop calls ``get_buffer``, receives and
calls ``buffer_updated`` in one go for one connection at a time, and complete frames are copied out
(they are small) before ``buffer_updated`` returns. What is left of an incomplete frame stays with
its reader: up to :data:`CARRY_MAX` bytes as a ``bytes`` copied back to the front of the area on the
next ``get_buffer`` (so pipelined small requests still arrive many per receive); a longer frame is
received straight into a buffer of its own, handed over whole without another copy once complete
(so a 8 MiB WRITE lands once in memory and goes to ``pwritev`` from there). Buffers above the area's
size come from :data:`sofs.wire.bufpool.POOL` (reused once the request is done with them: no
zero-fill per frame). Idle, a reader is a few dozen bytes instead of the 256 KiB rolling buffer each
connection had (issue 16: 1,000 idle connections cost 256 MiB for it).
"""
from __future__ import annotations

import struct

from sofs.wire.bufpool import POOL

MAX_FRAME = 16 * 1024 * 1024 + 4096
ROLLING = 256 * 1024
CARRY_MAX = 8 * 1024
"""An incomplete frame up to this size (with its 4-byte header) waits in its reader as ``bytes``."""
_BE32 = struct.Struct(">I")  # a transport header: type byte and 24-bit length, big-endian
NBSS_SESSION_MESSAGE = 0x00
NBSS_SESSION_REQUEST_TYPE = 0x81
NBSS_KEEP_ALIVE = 0x85
MAX_NBSS_REQUEST = 512  # two encoded NetBIOS names with scope ids (RFC 1002 4.3.2, 4.1.1)
NBSS_SESSION_REQUEST = memoryview(b"")
"""Stands for a received RFC 1002 SESSION REQUEST among the frames (compare with ``is``)."""
POSITIVE_SESSION_RESPONSE = b"\x82\x00\x00\x00"
"""RFC 1002 4.3.3: the answer to a SESSION REQUEST."""


class FramingError(Exception):
    """The peer broke the transport framing: the connection must be dropped."""


class RecvArea:
    """The receive buffer the readers of one event loop share (see the module docstring)."""

    __slots__ = ("buf", "view")

    def __init__(self, size: int = ROLLING) -> None:
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)


AREA = RecvArea()
"""The process-wide area (event loop thread only, like :data:`sofs.wire.bufpool.POOL`)."""


class FrameReader:
    __slots__ = ("_area", "_big", "_big_filled", "_carry", "max_frame")

    def __init__(self, max_frame: int = MAX_FRAME, area: RecvArea = AREA) -> None:
        self._area = area
        self._carry = b""  # the start of an incomplete frame (at most CARRY_MAX bytes)
        self._big: memoryview | None = None  # an incomplete longer frame, received in place
        self._big_filled = 0
        if max_frame < len(area.buf):  # a message that fits the area is never refused (buffer_updated)
            raise ValueError(f"max_frame {max_frame} is below the receive area's {len(area.buf)} bytes")
        self.max_frame = max_frame

    @property
    def pending(self) -> int:
        """Bytes received and not yet returned as a frame."""
        return len(self._carry) + (self._big_filled if self._big is not None else 0)

    def get_buffer(self, sizehint: int = -1) -> memoryview:
        """Where the next receive goes; ``buffer_updated`` must follow before any other reader of
        the same area is asked (the event loop does exactly that). ``sizehint`` is ignored (it is
        there so that a ``BufferedProtocol`` can hand this method to the transport as its own)."""
        if self._big is not None:
            return self._big[self._big_filled:]
        n = len(self._carry)
        if n:
            self._area.buf[:n] = self._carry
        return self._area.view[n:]

    def buffer_updated(self, nbytes: int) -> list[memoryview]:
        """Account for ``nbytes`` received into the last buffer; return the frames now complete."""
        frames: list[memoryview] = []
        if self._big is not None:
            self._big_filled += nbytes
            if self._big_filled < len(self._big):
                return frames
            frames.append(self._big)
            self._big = None
            return frames
        buf, view = self._area.buf, self._area.view
        if not self._carry and _BE32.unpack_from(buf)[0] == nbytes - 4:
            # the usual receive: exactly one whole SMB2 message (type byte 0 and its length, which
            # fits the area, so is below max_frame)
            return [memoryview(bytes(view[4:nbytes]))]
        start, end = 0, len(self._carry) + nbytes
        while end - start >= 4:
            length = (buf[start + 1] << 16) | (buf[start + 2] << 8) | buf[start + 3]
            if buf[start] != NBSS_SESSION_MESSAGE:
                used = self._nbss_packet(start, end, buf[start], length, frames)
                if not used:
                    break
                start += used
                continue
            if length > self.max_frame:
                raise FramingError(f"frame of {length} bytes exceeds the maximum")
            have = end - start - 4
            if have >= length:
                frames.append(memoryview(bytes(view[start + 4:start + 4 + length])))  # one copy
                start += 4 + length
                continue
            if 4 + length > CARRY_MAX:
                # receive the rest in place: a pooled buffer above the area's size, else its own
                big = memoryview(POOL.get(length))[:length] if 4 + length > len(buf) else memoryview(bytearray(length))
                big[:have] = view[start + 4:end]
                self._big, self._big_filled = big, have
                self._carry = b""
                return frames
            break
        self._carry = bytes(view[start:end]) if start < end else b""
        return frames

    @staticmethod
    def _nbss_packet(start: int, end: int, kind: int, length: int, frames: list[memoryview]) -> int:
        """The length of the non-message NBSS packet at ``start``; 0 while its body is incomplete."""
        if kind == NBSS_KEEP_ALIVE and length == 0:
            return 4
        if kind != NBSS_SESSION_REQUEST_TYPE:
            raise FramingError(f"bad transport header byte 0x{kind:02x}")
        if length > MAX_NBSS_REQUEST:
            raise FramingError(f"NetBIOS session request of {length} bytes")
        if end - start - 4 < length:
            return 0
        frames.append(NBSS_SESSION_REQUEST)  # the called/calling names are not checked (Samba accepts any)
        return 4 + length

    def feed(self, data: bytes) -> list[memoryview]:
        """Convenience for tests and plain ``Protocol`` transports: copy ``data`` in, return frames."""
        frames: list[memoryview] = []
        pos = 0
        while pos < len(data):
            target = self.get_buffer()
            n = min(len(target), len(data) - pos)
            target[:n] = data[pos:pos + n]
            pos += n
            frames.extend(self.buffer_updated(n))
        return frames


def frame_header(length: int) -> bytes:
    """The 4-byte Direct TCP transport header for a message of ``length`` bytes."""
    return length.to_bytes(4, "big")
