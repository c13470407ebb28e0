"""The coordinator link: a volume's HandleService across node processes, over TCP.

A serving process that does not coordinate a volume reaches the volume's coordinator through a
:class:`~sofs.server.coordlink_client.RemoteService` (it implements
:class:`~sofs.handlestate.api.HandleService`); every node process runs a
:class:`~sofs.server.coordlink_server.LinkServer` on its own address, which authenticates the
serving processes that connect and plugs each into the registered coordinator of the volume it
names (:class:`~sofs.handlestate.api.CoordinatorAdmin`). The wire protocol is in
:mod:`~sofs.server.coordlink_proto` (frames, handshake) and :mod:`~sofs.server.coordlink_codec`
(values).

Semantics kept from an in-process call:

- a HandleStateError / NotCoordinator raised by the coordinator is raised by the remote call (same
  type, status and message); any other exception becomes :class:`~sofs.server.coordlink_codec.CoordinatorFault`;
- ``hook.going_async()`` at the coordinator runs the caller's hook (Pending frame) before the call's
  result is returned to the caller;
- cancelling the caller's task cancels the coordinator-side task of that call (Cancel frame; the
  caller does not wait for the coordinator-side ``finally``);
- Sink events arrive in the order the coordinator made them; the Sink's async methods (``file_facts``,
  ``moved``, ``revoked``, ``end_session``, ``release``) are calls that return when the remote process
  has applied them (or its link is gone);
- the sync Sink methods (``oplock_break``/``lease_break``) return True when the event was sent; if the
  remote Sink then returns False, the link calls ``CoordinatorAdmin.undeliverable(endpoint, notice)``.

Link loss: the client's in-flight and later calls raise :class:`LinkLost` (a NotCoordinator: ask the
cluster for the coordinator again, open a new RemoteService, reclaim); the server cancels the link's
in-flight calls and calls ``CoordinatorAdmin.detach(endpoint)`` at once (a killed process's socket
closes at once, so a node death is seen without waiting for heartbeats).

This module holds :class:`Link`, the part both ends share: frames in and out, the calls it made
(futures) and the calls it serves (tasks).

Cost per frame (issue 16: a worker's CREATE+CLOSE is two calls over this link): the frames a side
sends during one loop turn leave in one write, in the order they were sent (at the end of the
``data_received`` that made them, else from a callback at the end of the turn); a call's Call and
Result are packed and read without frame objects, their values by the method's generated encoders
and decoders (wire version 2); the coordinator's side (``eager_serve``) runs an incoming call's
coroutine up to its first suspension inside ``data_received``, so a call that does not wait is
answered in the same turn without a Task or a wrapping coroutine. The serving side keeps a
Task per Sink call: its calls then run after the callers of the results that arrived before them
resumed, and after the events before them were delivered (see ``_ClientLink``).
"""
from __future__ import annotations

import asyncio
import logging
import typing
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from sofs.handlers.eager import Resume
from sofs.handlestate.api import AsyncHook, HandleStateError, NotCoordinator
from sofs.server.coordlink_codec import Codec, CodecError, CoordinatorFault, unpack_raw
from sofs.server.coordlink_proto import (
    Call,
    CallBook,
    Cancel,
    Error,
    Event,
    Frame,
    FrameBuffer,
    Method,
    Pending,
    ProtocolError,
    Result,
    check_frame,
    encode_frame,
    frame_of,
    framed,
)

log = logging.getLogger("sofs.coordlink")


class LinkLost(NotCoordinator):
    """The link to the coordinator closed: the call's outcome is unknown; ask the cluster again."""


@dataclass(slots=True)
class _Slot:
    """A call this side made and still waits for."""

    fut: asyncio.Future[Any]
    hook: AsyncHook | None
    hook_task: asyncio.Task[None] | None = None


def wire_error(e: HandleStateError | NotCoordinator | CoordinatorFault) -> Exception:
    """The registered exception type ``e`` travels as (a subclass travels as its base)."""
    if isinstance(e, HandleStateError):
        return e if type(e) is HandleStateError else HandleStateError(e.status, e.message)
    base = NotCoordinator if isinstance(e, NotCoordinator) else CoordinatorFault
    return e if type(e) is base else base(str(e))


class Link(asyncio.Protocol):
    """One end of a link (see the module docstring). Subclasses handle the handshake frames,
    :meth:`serve` (run an incoming Call), :meth:`on_event` and :meth:`on_lost`."""

    eager_serve = False
    """Run an incoming Call's first step inside ``data_received`` (a Task only if it suspends)."""

    def __init__(self, accepts: dict[type, dict[str, Method] | None]) -> None:
        self.loop = asyncio.get_running_loop()
        self.accepts = accepts
        self.peer = "?"
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future[str] = self.loop.create_future()
        self._codec = Codec()
        self._buffer = FrameBuffer()
        self._book: CallBook[_Slot] = CallBook()
        self._serving: dict[int, asyncio.Task[None]] = {}
        self._reason = "closed"
        self._out: list[bytes] = []  # frames of this loop turn, not written yet
        self._receiving = False  # in data_received: it writes them when it returns

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        addr = transport.get_extra_info("peername")
        self.peer = f"{addr[0]}:{addr[1]}" if addr else "?"

    def data_received(self, data: bytes) -> None:
        self._receiving = True
        try:
            accepts = self.accepts
            for body in self._buffer.feed(data):
                try:
                    t = unpack_raw(body)
                except Exception as e:  # msgpack raises several kinds (ExtraData, FormatError, ValueError, ...)
                    raise ProtocolError(f"not a msgpack value: {type(e).__name__}: {e}") from e
                n = len(t) if type(t) is tuple else 0
                # the two frames of every call first, without frame objects
                if n == 3 and t[0] == 2 and type(t[1]) is int and Result in accepts:
                    self._on_result(t[1], t[2])
                elif n == 4 and t[0] == 1 and type(t[1]) is int and type(t[2]) is str and type(t[3]) is tuple \
                        and accepts.get(Call) is not None:
                    method = accepts[Call].get(t[2])  # type: ignore[union-attr]
                    if method is None:
                        raise ProtocolError(f"unknown call {t[2]!r}")
                    self._on_call(t[1], method, method.dec_args(t[3]))
                else:
                    self.on_frame(check_frame(frame_of(t), accepts))
                if self.transport is None or self.transport.is_closing():
                    return
                accepts = self.accepts  # the handshake frames change it
        except (ProtocolError, CodecError) as e:
            log.warning("coordlink %s: dropping the link: %s", self.peer, e)
            self.abort(f"protocol error: {e}")
        except Exception as e:  # our bug: lose this link, not the process
            log.exception("coordlink %s: dropping the link after an internal error", self.peer)
            self.abort(f"internal error: {type(e).__name__}: {e}")
        finally:
            self._receiving = False
            if self._out:
                self.flush()

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._out.clear()
        if exc is not None and self._reason == "closed":
            self._reason = str(exc) or type(exc).__name__
        err = LinkLost(f"link to {self.peer} lost: {self._reason}")
        for slot in self._book.outstanding():
            if not slot.fut.done():
                slot.fut.set_exception(err)
        serving, self._serving = self._serving, {}
        for task in serving.values():
            task.cancel()
        try:
            self.on_lost()
        finally:
            if not self.lost.done():
                self.lost.set_result(self._reason)

    # ---- sending ----

    def send(self, frame: Frame) -> bool:
        """Write ``frame``; False when the link is closed. Raises CodecError for a value with no
        wire form."""
        t = self.transport
        if t is None or t.is_closing():
            return False
        self._write(encode_frame(self._codec, frame))
        return True

    def _write(self, data: bytes) -> None:
        out = self._out
        out.append(data)
        if len(out) == 1 and not self._receiving:
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the frames sent so far (one write for the loop turn's frames, in order)."""
        out = self._out
        if not out:
            return
        t = self.transport
        if t is not None and not t.is_closing():
            t.write(out[0] if len(out) == 1 else b"".join(out))
        out.clear()

    def abort(self, reason: str) -> None:
        """Close at once (unsent data is dropped); connection_lost follows."""
        self._reason = reason
        self._out.clear()
        if self.transport is not None:
            self.transport.abort()

    def close(self, reason: str) -> None:
        """Close after the data already sent."""
        self._reason = reason
        self.flush()
        if self.transport is not None:
            self.transport.close()

    async def call(self, method: Method, args: tuple[Any, ...], hook: AsyncHook | None = None) -> Any:
        """Call ``method`` at the peer; see the module docstring for errors and cancellation."""
        t = self.transport
        if t is None or t.is_closing():
            raise LinkLost(f"link to {self.peer} lost: {self._reason}")
        slot = _Slot(self.loop.create_future(), hook)
        cid = self._book.start(method, slot)
        try:
            data = framed(self._codec.pack_raw((1, cid, method.name, method.enc_args(args))))
        except Exception as e:  # a value not of its declared type (AttributeError, ...) or too large
            self._codec.reset()
            self._book.abandon(cid)
            if isinstance(e, CodecError):
                raise
            raise CodecError(f"{method.name}: cannot encode the arguments: {type(e).__name__}: {e}") from e
        self._write(data)
        try:
            value = await slot.fut
        except asyncio.CancelledError:
            if self._book.abandon(cid) is not None:
                self.send(Cancel(cid))
            raise
        except BaseException:
            if slot.hook_task is not None:
                await slot.hook_task
            raise
        if slot.hook_task is not None:
            await slot.hook_task
        return value

    def _hook_done(self, cid: int, slot: _Slot, task: asyncio.Task[None]) -> None:
        """The caller's ``going_async`` failed (e.g. a CANCEL arrived before the interim response):
        the call fails with that error and the coordinator's side is cancelled, as in-process."""
        if task.cancelled() or task.exception() is None or slot.fut.done():
            return
        if self._book.abandon(cid) is not None:
            self.send(Cancel(cid))
        slot.fut.set_exception(task.exception())  # type: ignore[arg-type]

    def notify(self, method: Method, args: tuple[Any, ...]) -> bool:
        """Send an Event; False when the link is closed."""
        return self.send(Event(method.name, args))

    # ---- receiving ----

    def _on_result(self, cid: int, wire: Any) -> None:
        got = self._book.settle(cid)
        if got is None:
            return  # cancelled by the caller before
        method, slot = got
        if slot.fut.done():
            return
        try:
            value = method.dec_result(wire)
        except CodecError as e:
            slot.fut.set_exception(CoordinatorFault(f"{method.name} returned {e}"))
            return
        slot.fut.set_result(value)

    def _on_call(self, cid: int, method: Method, args: tuple[Any, ...]) -> None:
        self._book.serve(cid)
        coro = self.serve(cid, method, args)
        if not self.eager_serve:
            self._serving[cid] = self.loop.create_task(self._run(cid, method, coro))
            return
        try:  # its first step now: most coordinator calls never wait, and are answered here
            first = coro.send(None)
        except StopIteration as stop:
            self._reply(cid, method, stop.value)
        except BaseException as e:  # noqa: BLE001 - each kind answered as _run answers it
            self._failed(cid, e)
        else:
            self._serving[cid] = self.loop.create_task(self._run(cid, method, Resume(coro, first)))

    def on_frame(self, frame: Frame) -> None:
        """A frame other than a call's Call and Result (decoded and checked)."""
        kind = type(frame)
        if kind is Error:
            assert isinstance(frame, Error)
            got = self._book.settle(frame.id)
            if got is not None and not got[1].fut.done():
                got[1].fut.set_exception(frame.error)
        elif kind is Result:
            raise AssertionError("a Result is taken by data_received")  # pragma: no cover
        elif kind is Call:
            assert isinstance(frame, Call)
            table = self.accepts[Call]
            assert table is not None
            self._on_call(frame.id, table[frame.method], frame.args)
        elif kind is Pending:
            assert isinstance(frame, Pending)
            got = self._book.peek(frame.id)
            if got is not None and got[1].hook is not None and got[1].hook_task is None:
                slot = got[1]
                hook_task = slot.hook_task = self.loop.create_task(slot.hook.going_async())  # type: ignore[union-attr]
                hook_task.add_done_callback(lambda t, cid=frame.id: self._hook_done(cid, slot, t))
        elif kind is Cancel:
            assert isinstance(frame, Cancel)
            task = self._serving.pop(frame.id, None)
            if task is not None and self._book.served(frame.id):
                task.cancel()
        elif kind is Event:
            assert isinstance(frame, Event)
            self.on_event(frame)
        else:
            self.on_handshake(frame)

    async def _run(self, cid: int, method: Method, aw: Any) -> None:
        try:
            value = await aw
        except BaseException as e:
            self._failed(cid, e)
            if isinstance(e, asyncio.CancelledError):
                raise
            return
        self._reply(cid, method, value)

    def _reply(self, cid: int, method: Method, value: Any) -> None:
        """The served call returned ``value``: its Result (unless the caller cancelled it)."""
        if not self._book.served(cid):
            return  # cancelled by the caller meanwhile
        self._serving.pop(cid, None)
        t = self.transport
        if t is None or t.is_closing():
            return
        try:
            data = framed(self._codec.pack_raw((2, cid, method.enc_result(value))))
        except Exception as e:  # noqa: BLE001 - a value not of the declared type (AttributeError, ...)
            self._codec.reset()
            self.send(Error(cid, CoordinatorFault(f"{method.name} returned {type(value).__name__}: {e}")))
            return
        self._write(data)

    def _failed(self, cid: int, e: BaseException) -> None:
        """The served call raised ``e``: its Error (unless the caller cancelled it)."""
        if isinstance(e, asyncio.CancelledError):
            if self._book.served(cid):  # not cancelled by the caller: tell it
                self._serving.pop(cid, None)
                self.send(Error(cid, CoordinatorFault("the call was cancelled at the coordinator")))
            return
        if not isinstance(e, Exception):
            raise e
        if isinstance(e, HandleStateError | NotCoordinator | CoordinatorFault):
            err = wire_error(e)
        else:
            log.error("coordlink %s: call %d failed", self.peer, cid, exc_info=e)
            err = CoordinatorFault(f"{type(e).__name__}: {e}")
        if not self._book.served(cid):
            return
        self._serving.pop(cid, None)
        self.send(Error(cid, err))

    # ---- for subclasses ----

    def serve(self, cid: int, method: Method, args: tuple[Any, ...]) -> Coroutine[Any, Any, Any]:
        """The coroutine of an incoming call (``args`` decoded and checked)."""
        raise NotImplementedError

    def on_event(self, event: Event) -> None:
        raise NotImplementedError

    def on_handshake(self, frame: Frame) -> None:
        raise NotImplementedError

    def on_lost(self) -> None:
        """The link closed (connection_lost); in-flight calls already failed or were cancelled."""
