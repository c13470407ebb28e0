"""The asyncio side of one SMB connection: socket in, engine, dispatcher tasks, socket out.

Everything protocol-shaped is in :mod:`sofs.engine` (bytes ⇄ chains) and :mod:`sofs.handlers`
(requests ⇄ replies); this module only moves bytes, starts one task per request chain, sends
interim responses for requests that go async, and implements CANCEL by cancelling the task of a
pending request ([MS-SMB2] 3.3.5.16).
"""
from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from sofs.engine.connection import Chain, Engine, Outgoing, ProtocolViolation, Request
from sofs.engine.framing import FrameReader, FramingError
from sofs.engine.state import Session, SessionState
from sofs.handlers.base import (
    ERROR_BODY,
    ChainState,
    ConnectionAbort,
    ConnectionHandoff,
    ConnectionRelay,
    Ctx,
    Reply,
    SmbError,
)
from sofs.handlers.dispatch import prepare, sequence
from sofs.handlers.eager import resume
from sofs.handlers.opens import connection_lost as handles_lost
from sofs.server.channel_proto import Handover
from sofs.server.channel_relay import NodeChannels
from sofs.server.state import ServerState
from sofs.wire.constants import Command, HeaderFlags
from sofs.wire.header import Header
from sofs.wire.status import NtStatus

log = logging.getLogger("sofs.conn")
trace = logging.getLogger("sofs.trace")

_ASYNC = int(HeaderFlags.ASYNC_COMMAND)
_RELATED = int(HeaderFlags.RELATED_OPERATIONS)
_PRIORITY = int(HeaderFlags.PRIORITY_MASK)
_SIGNED = int(HeaderFlags.SIGNED)
_NEGOTIATE = int(Command.NEGOTIATE)
_CREATE = int(Command.CREATE)
_CANCEL = int(Command.CANCEL)
_SESSION_SETUP = int(Command.SESSION_SETUP)
SESSION_SETUP_BONUS_CREDITS = 32
_HIGH_WATER = 4 * 1024 * 1024
_DEBUG = logging.DEBUG
SETTLE_S = 1.0  # how long a response waits for an earlier request's coordinator call to settle
MAX_ASYNC_CREDITS = 512  # Windows' (and smbtorture's) max async credits per connection


@dataclass(slots=True)
class _ChainRun(ChainState):
    """A chain's state (what its requests inherit) and its responses not yet sent (they go out
    together, or before an interim response): one object per chain (made by one ``__init__``, the
    dataclass's, for ChainState's fields and these)."""

    mark: int = 0  # the output barrier's count when the chain started (OutputBarrier.settle)
    outs: list[Outgoing] | None = None  # a compound's (a lone request's answer is sent at once)
    encrypt_with: Session | None = None
    task: asyncio.Task[None] | None = None  # set once the chain suspends (see eager.py)


class SmbConnection(asyncio.BufferedProtocol):
    def __init__(self, server: ServerState, token: int = 0,
                 adopt: tuple[dict[str, Any], bytes] | None = None) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.engine: Engine | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.pending_by_async: dict[int, tuple[_ChainRun, Ctx]] = {}
        self.pending_by_mid: dict[int, tuple[_ChainRun, Ctx]] = {}
        self._batch: list[Any] | None = None  # responses of one buffer_updated, one writelines
        self._held: list[tuple[list[Any], int]] | None = None  # output waiting for owed journal commits
        self._writable = asyncio.Event()
        self._writable.set()
        self.writable = True  # _writable's state as a plain attribute (read for every response)
        self.closed = False
        self.peer = ""
        self.token = token  # the main process's number for this connection (several worker processes)
        self.adopt = adopt  # handed over by another worker or node: its negotiated state and the request to redo
        self.handed_off = False
        self.unsettled: list[asyncio.Future[None]] = []  # see settling()
        self._go_async_cb = self._go_async  # bound once: every request's Ctx holds it
        # the transport asks for a receive buffer before every read: it gets the reader's method
        # itself (uvloop binds protocol.get_buffer when the transport is made, before connection_made)
        self._reader = FrameReader()
        self.get_buffer = self._reader.get_buffer  # type: ignore[method-assign]

    # -- transport callbacks --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername") or ("?", 0)
        sock = transport.get_extra_info("sockname") or ("?", 0)
        self.peer = f"{peer[0]}:{peer[1]}"
        conn = self.server.new_connection_state(self.peer, f"{sock[0]}:{sock[1]}")
        self.engine = Engine(conn, self.server.lookup_session, self._reader)
        self.server.connections[conn.conn_id] = self
        transport.set_write_buffer_limits(high=_HIGH_WATER)
        log.info("connection %d from %s", conn.conn_id, self.peer)
        if self.adopt is not None:
            state, request = self.adopt
            self.adopt = None
            conn.restore_negotiated(state)
            log.info("connection %d: taken over from another %s (binding to a session of this one)",
                     conn.conn_id, "node" if self.server.channels is not None else "worker process")
            self._inject(len(request).to_bytes(4, "big") + request)

    def _inject(self, data: bytes) -> None:
        """Process ``data`` as if it had arrived from the socket."""
        view = memoryview(data)
        while view and not self.closed:
            buf = self.get_buffer(len(view))
            n = min(len(buf), len(view))
            buf[:n] = view[:n]
            view = view[n:]
            self.buffer_updated(n)

    def get_buffer(self, sizehint: int) -> memoryview:  # replaced per instance (see __init__)
        return self._reader.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        assert self.engine is not None
        try:
            chains = self.engine.buffer_updated(nbytes)
        except (ProtocolViolation, FramingError) as e:
            log.info("connection %d from %s dropped: %s", self.engine.conn.conn_id, self.peer, e)
            self.abort()
            return
        # each chain runs eagerly up to its first suspension (no Task for the many requests that
        # complete inline, see eager.py); what they send in the meantime leaves in one writelines
        self._batch = batch = []
        mark = self.server.barrier.count
        try:
            for chain in chains:
                run = _ChainRun(mark=mark)
                coro = self._run_chain(chain, run)
                try:
                    first = coro.send(None)
                except StopIteration:
                    continue
                # asyncio.get_running_loop() only here: on 3.11 it makes a getpid() system call
                run.task = task = resume(asyncio.get_running_loop(), coro, first)
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        finally:
            self._batch = None
            if batch:
                if self.server.barrier.quiet and self._held is None and not self.closed and self.transport is not None:
                    self.transport.writelines(batch)  # the usual case: no journal commit owed
                else:
                    self._out(batch, mark)

    def eof_received(self) -> bool | None:
        return False

    def pause_writing(self) -> None:
        self.writable = False
        self._writable.clear()

    def resume_writing(self) -> None:
        self.writable = True
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.writable = True
        self._writable.set()
        assert self.engine is not None
        conn = self.engine.conn
        self.server.connections.pop(conn.conn_id, None)
        for task in list(self.tasks):
            task.cancel()
        if self.handed_off:  # it lives on in another worker process
            return
        handed_back = None
        try:
            handed_back = handles_lost(self.server, conn)
        except Exception:
            log.exception("handing back the handles of connection %d failed", conn.conn_id)
        drop_connection_sessions(self.server, conn)
        log.info("connection %d from %s closed", conn.conn_id, self.peer)
        if self.token and self.server.workers is not None:
            self.server.workers.connection_closed(self.token, handed_back)

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()

    def _movable(self, chain: Chain) -> tuple[dict[str, Any], bytes] | None:
        """The negotiated state and the request of ``chain``, when this connection can go on
        elsewhere from that request ([MS-SMB2] 3.3.5.5.2: a binding SESSION_SETUP, the connection's
        first request after NEGOTIATE, alone in flight); None when it cannot."""
        assert self.engine is not None
        conn, t = self.engine.conn, self.transport
        if (t is None or self.closed or len(chain.requests) != 1 or chain.encrypted
                or self.engine.reader.pending or self.pending_by_mid or self.pending_by_async):
            return None
        hdr = req = chain.requests[0]
        try:
            state = conn.export_negotiated(hdr.message_id, hdr.credit_charge if conn.supports_multi_credit else 1)
        except ValueError:
            return None
        return state, bytes(req.msg)

    def _hand_off(self, chain: Chain, worker: int) -> bool:
        """Move this connection, with the request of ``chain``, to worker process ``worker`` (see
        ConnectionHandoff). False when it cannot move (more than that request in flight)."""
        assert self.engine is not None
        peers, conn, t = self.server.workers, self.engine.conn, self.transport
        movable = self._movable(chain) if peers is not None else None
        if movable is None or t is None or peers is None:
            return False
        state, request = movable
        fd = os.dup(t.get_extra_info("socket").fileno())
        try:
            peers.hand_off(self.token, worker, state, request, fd)
        finally:
            os.close(fd)
        log.info("connection %d: handed to worker %d (binding to a session there)", conn.conn_id, worker)
        self.handed_off = True
        t.abort()  # our descriptor only: the socket lives on in the other worker
        return True

    def _relay(self, chain: Chain, node: int) -> bool:
        """Carry this connection, with the request of ``chain``, to cluster node ``node`` (see
        ConnectionRelay and :mod:`sofs.server.channel_relay`). False when it cannot go (more than
        that request in flight). Reading pauses until the node took it or refused."""
        assert self.engine is not None
        relay, t = self.server.channels, self.transport
        movable = self._movable(chain) if isinstance(relay, NodeChannels) else None
        if movable is None or t is None:
            return False
        t.pause_reading()
        task = asyncio.get_running_loop().create_task(self._carry(chain, node, *movable))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    async def _carry(self, chain: Chain, node: int, state: dict[str, Any], request: bytes) -> None:
        assert self.engine is not None and isinstance(self.server.channels, NodeChannels)
        conn = self.engine.conn
        handover = Handover(conn.client_address, conn.server_address, state, request)
        if await self.server.channels.carry(node, handover, self):
            return
        # the node is gone (or refused): answer here, as for any session this node does not hold
        conn.migrated = True
        if not self.closed and self.transport is not None:
            self.transport.resume_reading()
            await self._run_chain(chain, _ChainRun())

    def disown(self) -> None:
        """The transport goes on with another protocol (a channel carried to another node): this
        connection is over here, without its loss being one (it held no session)."""
        assert self.engine is not None
        self.handed_off = self.closed = True
        self.server.connections.pop(self.engine.conn.conn_id, None)

    # -- request processing ---------------------------------------------------------------------
    async def _run_chain(self, chain: Chain, run: _ChainRun) -> None:
        assert self.engine is not None
        try:
            if chain.transport_reply:
                self._write_raw(chain.transport_reply)
                return
            if chain.smb1_dialects is not None:
                from sofs.handlers.negotiate import handle_smb1_negotiate

                out = handle_smb1_negotiate(self.server, self.engine.conn, chain.smb1_dialects)
                await self._send([out], None, run.mark)
                return
            if chain.encrypted:
                run.encrypt_with = self.server.sessions.get(chain.encrypted_session_id)
            requests = chain.requests
            n = len(requests)
            if n == 1:  # the usual chain: one request, its answer alone
                req = requests[0]
                if req.command == _CANCEL:
                    self._cancel(req)
                    return
                out = await self._run_one(req, run)
                if out is not None:
                    if self.writable:
                        self._emit([out], run.encrypt_with, run.mark)
                    else:
                        await self._send([out], run.encrypt_with, run.mark)
                return
            run.outs = []
            for i, req in enumerate(requests):
                command = req.command
                if command == _CANCEL:
                    self._cancel(req)
                    continue
                run.index, run.last = i, i + 1 == n
                out = await self._run_one(req, run)
                if command == _CREATE and _is_error(run.status) and not run.create_error:
                    run.create_error = run.status  # Samba: compound_create_err
                if out is not None:
                    assert run.outs is not None  # set above; _go_async leaves a list
                    run.outs.append(out)
            if run.outs:
                await self._send(run.outs, run.encrypt_with, run.mark)
        except ConnectionAbort as e:
            if isinstance(e, ConnectionHandoff) and self._hand_off(chain, e.worker):
                return
            if isinstance(e, ConnectionRelay) and self._relay(chain, e.node):
                return
            log.info("connection %d: abort: %s", self.engine.conn.conn_id, e)
            self.abort()
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("connection %d: internal error in chain", self.engine.conn.conn_id)
            self.abort()

    async def _run_one(self, req: Request, run: _ChainRun) -> Outgoing | None:
        assert self.engine is not None
        hdr = req
        conn = self.engine.conn
        ctx = Ctx(self.server, conn, req, req.msg, run, req.encrypted, self, self._go_async_cb)
        tracing = trace.isEnabledFor(_DEBUG)
        if tracing:
            trace.debug("conn %d mid %d %s sid 0x%x tid %d", conn.conn_id, hdr.message_id,
                        _cmd_name(hdr.command), hdr.session_id, hdr.tree_id)
        self.pending_by_mid[hdr.message_id] = (run, ctx)
        earlier = self.unsettled[:] if self.unsettled else None
        started = perf_counter()
        try:
            handler, body, sequenced = prepare(ctx)
            if sequenced:
                await sequence(ctx, body)
            reply = await handler(ctx, body)
            status, body = reply.status, reply.body
        except SmbError as e:
            status, body = e.status, ((e.body if e.body is not None else ERROR_BODY),)
        except asyncio.CancelledError:
            if self.closed or ctx.async_id == 0:
                raise
            status, body = NtStatus.CANCELLED, (ERROR_BODY,)
        except ConnectionAbort:
            raise
        except Exception:
            # our bug, not the peer's: log it with the request, answer, keep the connection
            log.exception("connection %d: internal error in %s (mid %d)", conn.conn_id,
                          _cmd_name(hdr.command), hdr.message_id)
            status, body = NtStatus.INTERNAL_ERROR, (ERROR_BODY,)
        finally:
            self.pending_by_mid.pop(hdr.message_id, None)
            if ctx.async_id:
                self.pending_by_async.pop(ctx.async_id, None)
        run.status = status
        if earlier is not None:
            await _settle(earlier)
        self.server.stats.record(hdr.command, status, perf_counter() - started)
        if tracing:
            trace.debug("conn %d mid %d -> 0x%08x", conn.conn_id, hdr.message_id, status)
        out = self._response(ctx, status, body)
        if ctx.async_id:
            # the final response of an async request travels alone ([MS-SMB2] 3.3.4.2)
            await self._send([out], run.encrypt_with or self._encrypt_session(ctx), run.mark)
            return None
        return out

    def _response(self, ctx: Ctx, status: int, body: Any, interim: bool = False) -> Outgoing:
        assert self.engine is not None
        hdr = ctx.header
        session = ctx.session
        tree = ctx.tree
        async_id = ctx.async_id
        command = hdr.command
        req_signed = hdr.flags & _SIGNED
        flags = hdr.flags & (_RELATED | _PRIORITY)
        if async_id:
            flags |= _ASYNC
        requested = hdr.credits
        if not requested and command == _SESSION_SETUP and status == 0:
            # a client that asks for no credit at all (pysmb) gets some with its session, as Samba and
            # Windows 2012+ grant additional credits then: pysmb sends a CLOSE and its next request
            # without waiting for the CLOSE's response (issue 18)
            requested = SESSION_SETUP_BONUS_CREDITS
        credits = 0 if async_id and not interim else self.engine.conn.window.grant(requested, hdr.credit_charge)
        # positional (hot path): command, charge, status, flags, next_command, message_id, credits,
        # process_id, tree_id, async_id, session_id
        rh = Header(command, hdr.credit_charge, status, flags, 0, hdr.message_id, credits, hdr.process_id,
                    tree.tree_id if tree is not None else hdr.tree_id, async_id,
                    session.session_id if session is not None else hdr.session_id)
        sign_with = None
        if (session is not None and session.signer is not None and not ctx.encrypted and not interim
                and (req_signed or session.signing_required)):
            sign_with = session
        if command == _SESSION_SETUP and session is not None:
            sign_with = self._session_setup_signing(session, status, hdr, ctx)
        if sign_with is None and req_signed and not interim and not ctx.encrypted:
            # an answer we cannot sign (no valid session for it) keeps the SIGNED flag and echoes the
            # request's signature, as Samba does; clients then accept USER_SESSION_DELETED & co.
            rh.flags |= _SIGNED
            rh.signature = hdr.signature
        out = Outgoing(rh, body, sign_with)
        if sign_with is not None:
            out.signer = sign_with.signer_for(self.engine.conn)
        if command == _SESSION_SETUP or command == _NEGOTIATE:
            hook = ctx.server.extensions.get("preauth_hook")
            if hook is not None:
                out.on_wire = hook(ctx, status)
        return out

    @staticmethod
    def _session_setup_signing(session: Session, status: int, hdr: Header, ctx: Ctx) -> Session | None:
        """[MS-SMB2] 3.3.5.5.3: the final SESSION_SETUP response is signed (3.1.1 always, else if asked);
        a request signed with an established session's key (re-authentication, binding) gets signed
        answers whatever their status."""
        if ctx.encrypted or session.signer is None:
            return None
        if session.sign_setup_responses:
            return session
        if status != 0 or session.is_anonymous or session.is_guest:
            return None
        if session.dialect >= 0x0311 or hdr.is_signed or session.signing_required:
            return session
        return None

    def _encrypt_session(self, ctx: Ctx) -> Session | None:
        s = ctx.session
        if s is not None and s.encryptor is not None and (ctx.encrypted or s.encrypt_data or
                                                          (ctx.tree is not None and ctx.tree.encrypt)):
            return s
        return None

    async def _go_async(self, ctx: Ctx) -> None:
        """``ctx.go_async()``: send the interim response of a request of the chain ``ctx.chain.run``."""
        assert self.engine is not None
        run = ctx.chain
        assert isinstance(run, _ChainRun)
        if not ctx.chain.last and ctx.header.command != Command.CREATE:
            # [MS-SMB2] 3.3.5.2.7 (Windows note): only the last request of a compound, or a
            # CREATE waiting for an oplock break, may go async (smb2.compound.interim2)
            raise SmbError(NtStatus.INTERNAL_ERROR, "async request inside a compound")
        if ctx.cancel_requested:
            raise SmbError(NtStatus.CANCELLED, "cancelled before going async")
        if len(self.pending_by_async) >= MAX_ASYNC_CREDITS - 1:
            # Windows keeps at most 511 requests async per connection; the next one fails
            # (smb2.credits.*_max_async_credits)
            raise SmbError(NtStatus.INSUFFICIENT_RESOURCES, "too many async requests")
        ctx.async_id = self.engine.conn.new_async_id()
        self.pending_by_async[ctx.async_id] = (run, ctx)
        interim = self._response(ctx, NtStatus.PENDING, (ERROR_BODY,), interim=True)
        outs = [*run.outs, interim] if run.outs else [interim]
        if run.outs is not None:
            run.outs = []
        await self._send(outs, run.encrypt_with or self._encrypt_session(ctx), run.mark)

    def _cancel(self, hdr: Header) -> None:
        """[MS-SMB2] 3.3.5.16: cancel a pending request, by AsyncId or by MessageId."""
        entry = self.pending_by_async.get(hdr.async_id) if hdr.is_async else self.pending_by_mid.get(hdr.message_id)
        if entry is None:
            return
        run, ctx = entry
        if ctx.async_id and run.task is not None:
            # an async request has suspended, so its chain has a Task by now (eager.py); cancel on
            # the next loop turn: a Task cancelled before its first step would never resume the
            # suspended handler (the CANCEL may sit in the same read as its request)
            asyncio.get_running_loop().call_soon(run.task.cancel)
            # answers of requests read after the CANCEL wait for its CANCELLED answer, as from Samba,
            # which answers the cancelled request while it processes the CANCEL (smb2.session.expire2:
            # a NOTIFY refused at once must not overtake the one cancelled before it)
            done = self.settling()
            run.task.add_done_callback(lambda _t: done.done() or done.set_result(None))
        else:
            # still synchronous: it completes on its own, or is cancelled when it would go async
            ctx.cancel_requested = True

    async def _send(self, outs: list[Outgoing], encrypt_with: Session | None, mark: int | None = None) -> None:
        if not self.writable and not self.closed:
            await self._writable.wait()
        self._emit(outs, encrypt_with, mark)

    def _emit(self, outs: list[Outgoing], encrypt_with: Session | None, mark: int | None) -> None:
        """:meth:`_send` once the transport takes more (the caller checked)."""
        if self.closed or self.transport is None:
            return
        assert self.engine is not None
        parts = self.engine.build_frame(outs, encrypt_with)
        if self._batch is not None:
            self._batch.extend(parts)
        elif self.server.barrier.quiet and self._held is None:
            self.transport.writelines(parts)
        else:
            self._out(parts, self.server.barrier.count if mark is None else mark)

    def _write_raw(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            return
        if self._batch is not None:
            self._batch.append(data)
        else:
            self._out([data], self.server.barrier.count)

    def _out(self, parts: list[Any], mark: int) -> None:
        """Hand ``parts`` to the socket once the journal commits this process owes are made (the
        output barrier, :mod:`sofs.handlestate.barrier`): no response leaves before the persistent
        handle state it reports is durable. ``mark``: the barrier's count when the requests began."""
        if self.closed or self.transport is None:
            return
        if self._held is not None:  # earlier output waits for a commit: keep the order
            self._held.append((parts, mark))
            return
        barrier = self.server.barrier
        if barrier.owed or barrier.failed_upto > mark:
            try:
                done = barrier.settle(mark)
            except Exception as e:  # noqa: BLE001 - the state it reports is not durable: no answer
                self._commit_failed(e)
                return
            if not done:
                self._held = [(parts, mark)]
                task = asyncio.get_running_loop().create_task(self._release_held())
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
                return
        self.transport.writelines(parts)

    async def _release_held(self) -> None:
        barrier = self.server.barrier
        try:
            while self._held:
                await barrier.wait()
                held, self._held = self._held, []
                for parts, mark in held:
                    if barrier.failed_upto > mark:
                        raise OSError("a journal commit owed by this output failed")
                    if not self.closed and self.transport is not None:
                        self.transport.writelines(parts)
        except Exception as e:  # noqa: BLE001 - see _out
            self._commit_failed(e)
        finally:
            self._held = None

    def _commit_failed(self, e: BaseException) -> None:
        assert self.engine is not None
        log.error("connection %d dropped: the persistent handle state of its responses is not durable (%s)",
                  self.engine.conn.conn_id, e)
        self._held = None
        self.abort()

    def settling(self) -> asyncio.Future[None]:
        """A request of this connection calls the volume's coordinator in another process; the
        caller completes the future once the coordinator answered or went async. Until then the
        responses of requests that arrived after the call wait (up to :data:`SETTLE_S`): the breaks
        the call caused reach the client first, as when the coordinator is in-process, where they
        are sent before the next request runs (smb2.lease.rename_wait across nodes)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.unsettled.append(fut)
        fut.add_done_callback(self.unsettled.remove)
        return fut

    # -- server-initiated messages (oplock/lease breaks) ------------------------------------------
    async def send_notification(self, header: Header, body: bytes, session: Session | None = None) -> None:
        """Send an unsolicited message (MessageId 0xFFFFFFFFFFFFFFFF), e.g. a break notification."""
        out = Outgoing(header, (body,), None)
        enc = session if session is not None and session.encryptor is not None and session.encrypt_data else None
        await self._send([out], enc)


def drop_connection_sessions(server: ServerState, conn: Any) -> None:
    """[MS-SMB2] 3.3.7.1: the sessions of a lost connection go away, unless another channel carries
    them (it becomes the session's connection); channels bound here are unbound. Handles were dealt
    with by :func:`sofs.handlers.opens.connection_lost` (durable ones kept disconnected)."""
    for session in list(conn.sessions.values()):
        if session.connection is not conn:
            continue
        if session.channels:
            nxt = session.channels.pop(0)
            session.connection = nxt
            nxt.bound_sessions.pop(session.session_id, None)
            nxt.sessions[session.session_id] = session
            continue
        server.sessions.pop(session.session_id, None)
        session.state = SessionState.EXPIRED
    conn.sessions.clear()
    for session in list(conn.bound_sessions.values()):
        session.bound.pop(conn.conn_id, None)
        if conn in session.channels:
            session.channels.remove(conn)
    conn.bound_sessions.clear()


async def _settle(earlier: list[asyncio.Future[None]]) -> None:
    pending = [f for f in earlier if not f.done()]
    if pending:
        await asyncio.wait(pending, timeout=SETTLE_S)


def _is_error(status: int) -> bool:
    return (status & 0xC0000000) == 0xC0000000


def _cmd_name(c: int) -> str:
    try:
        return Command(c).name
    except ValueError:
        return f"0x{c:x}"


__all__ = ["ConnectionAbort", "Reply", "SmbConnection"]
