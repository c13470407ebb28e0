"""The one interface to a volume's handle state: what a serving process asks the volume's coordinator.

A volume (a Cluster Shared Volume, or one share of a standalone ``sofs serve``) has exactly one
coordinator at a time. It owns the volume's open table (:class:`~sofs.handlestate.table.OpenTable`):
every open, share mode, oplock, lease, byte-range lock, change-notify watch, replay entry and
persistent handle of the volume, wherever the client is connected. Every SMB process that serves the
volume (the coordinator's own node, other nodes, later worker processes) reaches it through the
:class:`HandleService` protocol below:

- in-process (standalone server, or the coordinator's own node): a direct ``await`` on the
  :class:`~sofs.handlestate.coordinator.VolumeCoordinator`;
- from another process: the same calls as messages over a link (:mod:`sofs.server.coordlink`).

The hot-path messages (AdmitRequest/Result, CloseResult, lease request/grant) are plain slots
dataclasses, not frozen ones (a frozen dataclass sets each field through ``object.__setattr__``:
microseconds per CREATE); treat every message as immutable all the same.

Identity travels as ids, never as objects: an open is its persistent id (the FileId's persistent half,
assigned by the coordinator), a client its ClientGuid, a lease (ClientGuid, LeaseKey), a serving
process its *endpoint* number. Every request and result is a frozen dataclass of plain values (ints,
bytes, str, bools, None and tuples of those), so a codec can carry it without knowing the model.

Events travel the other way through a :class:`Sink` (one per endpoint): oplock/lease break
notifications to deliver to the client, opens the coordinator closed (revoked), and the per-file
facts a remote serving process mirrors for its data path (byte-range locks, read caching). The
coordinator decides; the process holding the client's connection delivers.

Errors: a refused operation raises :class:`HandleStateError` with the NTSTATUS the client gets.
Waiting: operations that may wait for a client (break acknowledgments, blocking locks, change
notify) take an :class:`AsyncHook`; the coordinator calls ``going_async()`` once before it waits for
long, and the serving side answers the client's request with an interim STATUS_PENDING then. A
cancelled call (SMB2 CANCEL, connection loss) is cancelled at the coordinator too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sofs.handlestate.durable import DurableGrant, DurableRequest
from sofs.wire.status import NtStatus

LOCAL = 0
"""The endpoint number of the coordinator's own process."""


class HandleStateError(Exception):
    """The coordinator refused an operation; ``status`` is what the client gets."""

    def __init__(self, status: int, message: str = "") -> None:
        name = NtStatus(status).name if status in NtStatus._value2member_map_ else hex(status)
        super().__init__(f"{name}: {message}" if message else name)
        self.status = int(status)
        self.message = message


class NotCoordinator(Exception):
    """The called process does not (or no longer) coordinate the volume: ask the cluster again.
    Raised by a fenced coordinator (stale epoch) and by a link whose coordinator went away."""


class AsyncHook(Protocol):
    async def going_async(self) -> None:
        """The operation is about to wait for another client: answer the request STATUS_PENDING."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: the client (for leases, replay, reconnect checks) and where its events go."""

    endpoint: int
    client_guid: bytes
    session_id: int
    tree_id: int
    user: str  # the user's SID: replay and reconnect must come from the same user
    dialect: int
    dir_leasing: bool = False  # the connection negotiated SMB2_GLOBAL_CAP_DIRECTORY_LEASING


@dataclass(slots=True)
class LeaseRequest:
    """The RqLs context of a CREATE ([MS-SMB2] 2.2.13.2.8 / 2.2.13.2.10)."""

    key: bytes
    state: int
    version: int  # 1 or 2 (2 only on SMB 3.x)
    parent_key: bytes | None = None
    epoch: int = 0


@dataclass(slots=True)
class LeaseGrant:
    """The lease part of a CREATE response (state after the grant, v2 epoch, flags)."""

    key: bytes
    state: int
    epoch: int
    flags: int
    version: int
    parent_key: bytes | None


@dataclass(slots=True)
class AdmitRequest:
    """A new open of an object the serving process has opened on the volume ([MS-SMB2] 3.3.5.9).

    ``path`` is volume-relative (backslashes, no leading separator). ``existed``: the object was
    there before this CREATE (CreateAction OPENED so far). ``granted_access`` is final (share and
    DACL checks done by the serving side); ``desired_access`` is the request's, for the break rules."""

    caller: Caller
    file_id: int
    stream: str | None
    path: str
    is_directory: bool
    existed: bool
    disposition: int
    create_options: int
    desired_access: int
    granted_access: int
    share_access: int
    oplock: int  # RequestedOplockLevel
    lease: LeaseRequest | None = None
    durable: DurableRequest | None = None
    app_instance_id: bytes | None = None
    app_instance_version: tuple[int, int] | None = None
    ca: bool = False
    ca_timeout_s: int = 0
    persistent_capable: bool = False  # the server advertises SMB2_GLOBAL_CAP_PERSISTENT_HANDLES
    resent: bool = False
    """Sent again after a coordinator change (``Router``): its first sending may have been admitted
    and journaled by the old coordinator, whose answer was lost."""


@dataclass(slots=True)
class AdmitResult:
    """The admitted open; or ``reopen``: nothing admitted, the object the serving process opened was
    deleted meanwhile (a purged disconnected open's delete-on-close): open it again. ``facts``: the
    file's facts for a remote caller that does not mirror them yet (:meth:`Sink.file_facts` carried
    by the answer instead of a call of its own; the caller applies them before it uses the open)."""

    persistent_id: int
    oplock_level: int
    lease: LeaseGrant | None
    durable: DurableGrant | None
    reopen: bool = False
    facts: FileFacts | None = None


@dataclass(slots=True)
class CloseResult:
    """What the serving side does after the open left the table: ``delete`` the object (the stream
    when ``stream``) through its handle, then report it with :meth:`HandleService.deleted`;
    ``delete_path``: a file whose pending delete waited for its streams' opens, to remove by path."""

    delete: bool
    stream: str | None
    delete_path: str | None = None


@dataclass(frozen=True, slots=True)
class OpenImage:
    """An open as the coordinator knows it, for a reconnect, a replayed CREATE or a reclaim."""

    persistent_id: int
    file_id: int
    path: str
    stream: str | None
    is_directory: bool
    granted_access: int
    share_access: int
    create_options: int
    oplock_level: int
    lease: LeaseGrant | None
    durable: DurableGrant | None
    create_action: int
    channel_sequence: int
    delete_on_close: bool
    position: int = 0


@dataclass(frozen=True, slots=True)
class ReconnectRequest:
    """DHnC (version 1) or DH2C (version 2) ([MS-SMB2] 3.3.5.9.7, 3.3.5.9.12)."""

    caller: Caller
    persistent_id: int
    version: int
    create_guid: bytes | None
    lease_key: bytes | None
    path: str  # volume-relative, with ``:stream`` when the CREATE named one


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """A CREATE carrying a DH2Q CreateGuid: is it a replay of an open we have ([MS-SMB2] 3.3.5.9.10)?"""

    caller: Caller
    create_guid: bytes
    is_replay: bool  # SMB2_FLAGS_REPLAY_OPERATION
    lease_key: bytes | None  # the lease the replay asks for (must be the open's)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """``image``: the replayed open, now attached to the caller; ``status`` set: refuse with it;
    neither: not a replay, go on with a new open."""

    image: OpenImage | None = None
    status: int = 0


@dataclass(frozen=True, slots=True)
class LockRange:
    offset: int
    length: int
    exclusive: bool = False


@dataclass(frozen=True, slots=True)
class LockRequest:
    """[MS-SMB2] 3.3.5.14: lock (all or nothing) or unlock ``ranges`` of an open.

    ``held_before``: set only on a request sent again after a coordinator change (its first sending
    may have taken effect at the old coordinator, which the reclaim carried here): the open's locks
    on ``ranges`` before the first sending. The coordinator answers success when its locks show the
    request applied already (a lock: these ranges held once more; an unlock: once less)."""

    persistent_id: int
    ranges: tuple[LockRange, ...]
    unlock: bool
    blocking: bool
    sequence_index: int = 0  # 0: no lock-sequence replay detection
    sequence_number: int = 0
    held_before: tuple[LockRange, ...] | None = None


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """[MS-SMB2] 3.3.5.19 CHANGE_NOTIFY on a directory open."""

    persistent_id: int
    completion_filter: int
    watch_tree: bool
    output_length: int


@dataclass(frozen=True, slots=True)
class WatchResult:
    """``status`` SUCCESS with FILE_NOTIFY_INFORMATION ``data``, or NOTIFY_ENUM_DIR,
    NOTIFY_CLEANUP, DELETE_PENDING."""

    status: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class Change:
    """A change of the namespace or of a file's metadata made through a serving process."""

    path: str  # volume-relative, ``:stream`` appended for a stream
    action: int  # [MS-FSCC] 2.7.1 NotifyAction
    completion_filter: int
    origin: int = 0  # persistent id of the open that made it (0 = none)


@dataclass(frozen=True, slots=True)
class RenameCheck:
    """Before a rename/link of ``persistent_id`` to ``target`` (volume-relative)."""

    persistent_id: int
    target: str
    target_file_id: int | None  # the object now at ``target`` (it will be replaced), or None
    replace: bool
    link: bool = False  # a hard link: the source keeps its name


@dataclass(frozen=True, slots=True)
class FileLock:
    """A granted byte-range lock, as mirrored to serving processes (owner = persistent id)."""

    owner: int
    offset: int
    length: int
    exclusive: bool


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What a remote serving process needs on its data path for one file stream: the granted locks
    (READ/WRITE conflict checks), whether a write must ask the coordinator to break read caching,
    and whether the file is delete-pending (FileStandardInformation.DeletePending)."""

    file_id: int
    stream_key: str
    locks: tuple[FileLock, ...]
    read_cachers: bool
    delete_pending: bool = False


@dataclass(frozen=True, slots=True)
class HandleRow:
    """One open for Get-SmbOpenFile / Close-SmbOpenFile."""

    persistent_id: int
    path: str
    stream: str | None
    endpoint: int
    session_id: int
    client_guid: bytes
    user: str
    granted_access: int
    share_access: int
    oplock_level: int
    lease_state: int
    durable: bool
    persistent: bool
    connected: bool
    locks: int


class HandleService(Protocol):
    """The calls a serving process makes. See the module docstring."""

    async def admit(self, req: AdmitRequest, hook: AsyncHook | None) -> AdmitResult: ...

    async def close(self, persistent_id: int, modified: bool = False) -> CloseResult:
        """The client closed the open (or it goes for another reason). ``modified``: data was written
        through it, which breaks its directory's leases ([MS-SMB2] 3.3.4.7; Samba breaks them at
        the close of a modified file, not at each write)."""

    async def deleted(self, file_id: int, stream: str | None, change: Change | None) -> None:
        """The object a :class:`CloseResult` said to delete is gone (or could not go): clear its
        delete-pending state and report the change."""

    async def disconnect(self, persistent_id: int, position: int = 0) -> bool:
        """The client's connection is gone: keep the open disconnected (True: durable and allowed)
        or not (False: the caller closes it). ``position``: the handle's FilePositionInformation,
        which a reconnect gets back."""

    async def set_delete_on_close(self, persistent_id: int, value: bool, hook: AsyncHook | None) -> None: ...

    async def set_delete_pending(self, persistent_id: int, value: bool, hook: AsyncHook | None) -> None: ...

    async def check_rename(self, req: RenameCheck, hook: AsyncHook | None) -> None: ...

    async def renamed(self, persistent_id: int, old: str, new: str, new_stream: str | None) -> None: ...

    async def lock(self, req: LockRequest, hook: AsyncHook | None) -> None: ...

    async def oplock_ack(self, persistent_id: int, level: int) -> int: ...

    async def lease_ack(self, client_guid: bytes, lease_key: bytes, state: int) -> None: ...

    async def contend_write(self, persistent_id: int) -> None: ...

    async def watch(self, req: WatchRequest, hook: AsyncHook | None) -> WatchResult: ...

    async def report(self, changes: tuple[Change, ...]) -> None: ...

    async def reconnect(self, req: ReconnectRequest) -> OpenImage: ...

    async def replay(self, req: ReplayRequest) -> ReplayResult: ...

    async def forget_replay(self, persistent_id: int) -> None:
        """The client used the open's FileId: its CreateGuid leaves the replay cache."""

    async def set_channel_sequence(self, persistent_id: int, value: int) -> None: ...

    async def set_resilient(self, persistent_id: int, timeout_ms: int) -> None:
        """FSCTL_LMR_REQUEST_RESILIENCY: the open survives a network failure for ``timeout_ms``."""

    async def list_opens(self) -> tuple[HandleRow, ...]: ...

    async def revoke(self, persistent_id: int) -> bool:
        """Close an open from outside (Close-SmbOpenFile): its serving process is told to drop it."""

    async def end_session(self, session_id: int, user: str) -> None:
        """A new session of ``user`` names ``session_id`` as its PreviousSessionId ([MS-SMB2]
        3.3.5.5.3) and no local session has it: the serving processes holding opens of that session
        end it if it is ``user``'s (durable opens stay disconnected); returns once they did."""


class Sink(Protocol):
    """Events from the coordinator to one serving process (endpoint)."""

    def oplock_break(self, persistent_id: int, level: int) -> bool:
        """Send an Oplock Break Notification to the open's client; False when it cannot be reached."""

    def lease_break(self, client_guid: bytes, lease_key: bytes, current: int, new: int,
                    ack_required: bool, epoch: int, version: int, hint: int) -> bool:
        """Send a Lease Break Notification to the client (on the connection of open ``hint`` if it
        is still there); False when no connection of the client is left."""

    async def revoked(self, persistent_id: int) -> None:
        """The coordinator closed the open: drop the handle (the client gets FILE_CLOSED). Returns
        once it is dropped: nothing the client sends on it after the coordinator's next answer
        (a new instance's CREATE, [MS-SMB2] 3.3.5.9.13) reaches the file."""

    async def end_session(self, session_id: int, user: str) -> None:
        """End this process's session ``session_id`` if it is ``user``'s (HandleService.end_session)."""

    async def release(self, persistent_id: int) -> bool:
        """A durable reconnect or a replay claims the open while the coordinator still has it
        connected here: False if its client is still connected here; else this process lets go of
        the handle (a loss it already reported reaches the coordinator before the answer) and
        answers True. Across nodes the reconnect can arrive before the old node saw its client go."""

    async def moved(self, old: str, new: str, is_directory: bool) -> None:
        """Opens at ``old`` (and below it, for a directory) are now at ``new`` (volume paths)."""

    async def file_facts(self, facts: FileFacts) -> None:
        """The locks / read caching of a file this process has opens on changed."""

    def watching(self, on: bool) -> None:
        """Whether any change notify watch or directory lease exists on the volume (changes need
        reporting only then)."""


@dataclass(frozen=True, slots=True)
class ReclaimOpen:
    """A live open a serving process re-registers with a new coordinator (after a move or a
    coordinator's death): everything the coordinator keeps about it that the journal may not have."""

    caller: Caller
    image: OpenImage
    locks: tuple[LockRange, ...] = ()
    lock_sequences: tuple[tuple[int, int], ...] = ()  # (index, number)
    create_guid: bytes | None = None
    app_instance_id: bytes | None = None
    app_instance_version: tuple[int, int] | None = None
    watch: tuple[int, bool] | None = None  # (completion filter, watch tree) of a directory open


class CoordinatorAdmin(Protocol):
    """How the link layer plugs serving processes into a coordinator (not for handlers)."""

    def attach(self, sink: Sink, name: str) -> int:
        """A serving process (``name``: node or worker, for listings) joins; returns its endpoint."""

    async def detach(self, endpoint: int) -> None:
        """The process is gone (its link closed, or the cluster declared its node down): its
        durable opens stay disconnected, the others are closed, its waits end."""

    async def reclaim(self, endpoint: int, opens: tuple[ReclaimOpen, ...]) -> tuple[int, ...]:
        """Re-register a process's live opens after a coordinator change; returns the persistent
        ids the coordinator could NOT take back (the process closes those handles)."""

    async def undeliverable(self, endpoint: int, notice: OplockBreakNotice | LeaseBreakNotice) -> None:
        """A break given to ``endpoint``'s Sink could not reach the client after all. A Sink across a
        link (:mod:`sofs.server.coordlink`) answers True at once, before the serving process tried;
        when its own Sink then returns False the link reports the call here. React as to a False
        return of that Sink call; ignore a notice whose break was already acknowledged or superseded
        (it arrives later than the False would have)."""


@dataclass(frozen=True, slots=True)
class OplockBreakNotice:
    """The arguments of an undelivered :meth:`Sink.oplock_break`."""

    persistent_id: int
    level: int


@dataclass(frozen=True, slots=True)
class LeaseBreakNotice:
    """The arguments of an undelivered :meth:`Sink.lease_break`."""

    client_guid: bytes
    lease_key: bytes
    current: int
    new: int
    ack_required: bool
    epoch: int
    version: int
    hint: int
