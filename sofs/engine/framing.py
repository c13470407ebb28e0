"""Direct-TCP transport framing ([MS-SMB2] 2.1): a 4-byte header (zero byte + 24-bit big-endian length).

The same port also takes the two other RFC 1002 (NetBIOS session service, 4.3) packets clients send
there, as Samba does: a SESSION REQUEST (type 0x81) comes out as :data:`NBSS_SESSION_REQUEST` (the
engine answers it with a POSITIVE SESSION RESPONSE), a SESSION KEEP ALIVE (0x85) is discarded
(RFC 1002 4.3.7). Any other type breaks the framing.

:class:`FrameReader` is a sans-I/O buffer that hands out the writable region the transport should
receive into (``get_buffer``) and returns complete frames after ``buffer_updated``. Small frames are
parsed out of one rolling buffer (copied out, they are small); a frame larger than the rolling buffer
is received straight into a buffer of its own, which is then handed over whole without another copy
(so a 8 MiB WRITE lands once in memory and goes to ``pwritev`` from there). Those buffers come from
:data:`sofs.wire.bufpool.POOL` (reused once the request is done with them: no zero-fill per frame).
"""
from __future__ import annotations

from sofs.wire.bufpool import POOL

MAX_FRAME = 16 * 1024 * 1024 + 4096
ROLLING = 256 * 1024
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


class FrameReader:
    __slots__ = ("_big", "_big_filled", "_buf", "_end", "_start", "_view", "max_frame")

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self._buf = bytearray(ROLLING)
        self._view = memoryview(self._buf)
        self._start = 0
        self._end = 0
        self._big: memoryview | None = None
        self._big_filled = 0
        self.max_frame = max_frame

    @property
    def pending(self) -> int:
        """Bytes received and not yet returned as a frame."""
        return self._end - self._start + (self._big_filled if self._big is not None else 0)

    def get_buffer(self) -> memoryview:
        if self._big is not None:
            return self._big[self._big_filled:]
        if self._end == len(self._buf):
            self._compact()
        return self._view[self._end:]

    def _compact(self) -> None:
        n = self._end - self._start
        if self._start:
            self._buf[0:n] = self._buf[self._start:self._end]
        self._start, self._end = 0, n

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
        self._end += nbytes
        buf = self._buf
        while self._end - self._start >= 4:
            s = self._start
            length = (buf[s + 1] << 16) | (buf[s + 2] << 8) | buf[s + 3]
            if buf[s] != NBSS_SESSION_MESSAGE:
                if not self._nbss_packet(buf[s], length, frames):
                    break
                continue
            if length > self.max_frame:
                raise FramingError(f"frame of {length} bytes exceeds the maximum")
            have = self._end - s - 4
            if have >= length:
                frames.append(memoryview(bytes(self._view[s + 4:s + 4 + length])))  # one copy
                self._start = s + 4 + length
                continue
            if 4 + length > len(buf):
                big = memoryview(POOL.get(length))[:length]
                big[:have] = buf[s + 4:self._end]
                self._big, self._big_filled = big, have
                self._start = self._end = 0
                return frames
            if s + 4 + length > len(buf):
                self._compact()
            break
        if self._start == self._end:
            self._start = self._end = 0
        return frames

    def _nbss_packet(self, kind: int, length: int, frames: list[memoryview]) -> bool:
        """Consume a non-message NBSS packet at ``_start``; False while its body is incomplete."""
        if kind == NBSS_KEEP_ALIVE and length == 0:
            self._start += 4
            return True
        if kind != NBSS_SESSION_REQUEST_TYPE:
            raise FramingError(f"bad transport header byte 0x{kind:02x}")
        if length > MAX_NBSS_REQUEST:
            raise FramingError(f"NetBIOS session request of {length} bytes")
        if self._end - self._start - 4 < length:
            if self._start + 4 + length > len(self._buf):
                self._compact()
            return False
        self._start += 4 + length  # the called/calling names are not checked (Samba accepts any)
        frames.append(NBSS_SESSION_REQUEST)
        return True

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
