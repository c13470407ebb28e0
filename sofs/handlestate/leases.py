"""Leases v1/v2, file and directory ([MS-SMB2] 3.3.1.4, 3.3.4.7, 3.3.5.9.8/.11, 3.3.5.22.2).

Model: one :class:`LeaseRecord` per (ClientGuid, LeaseKey), bound to one file (the key of the file
it was first requested on) and shared by every open of that client that names the key. The
caching state uses :class:`~sofs.handlestate.oplocks.Caching` bits.

Invariants (``LeaseTable.check_invariants``):

E1  A lease key of a client names exactly one file; asking for it on another file is
    INVALID_PARAMETER (Windows).
E2  ``state`` is one of {}, R, RH, RW, RWH (file) or {}, R, RH (directory); while ``breaking``,
    ``required ⊆ notified ⊊ state``.
E3  A lease lives while at least one open refers to it (``opens`` non-empty); the last close drops
    it (and releases whatever waited for its break).
E4  v2: ``epoch`` grows by one with every state change the client is told about (grant upgrade or
    a break notification caused by a break; not the follow-up of an ack); v1 leases keep epoch 0 on
    the wire.

The break machine is :data:`LEASE_TABLE`, generated from :func:`lease_step` over every valid
(state, notified, required) × event: events ``break:<bits>``, ``ack:<bits>``, ``timeout`` (35 s without
an ack: the lease drops to none), ``lost`` (no connection to send the notification on: as if the
client acknowledged what is required); actions
``notify:<cur>:<new>:<ack_required>``, ``release``, ``error:<status name>``. A second break while
one is outstanding only lowers ``required`` (no new message); when the client then acknowledges the
first notification with more than is now required, a follow-up notification goes out at once
(Samba's ``breaking_to_requested`` / ``breaking_to_required``), in steps: a state with H or W is
asked for R first, then none.
"""
from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

from sofs.handlestate.oplocks import RH, RW, RWH, Caching

C = Caching
FILE_STATES = (C.NONE, C.R, RH, RW, RWH)
DIR_STATES = (C.NONE, C.R, RH)

LeaseBreakState = tuple[Caching, Caching | None, Caching | None]  # (state, notified, required)


def normalize_request(requested: int, is_directory: bool) -> Caching:
    """What may be granted of a request: bits outside RWH dropped, nothing without R (Windows
    grants none to H, W or HW alone), no W on a directory ([MS-SMB2] 3.3.5.9.11)."""
    c = Caching(requested & int(RWH))
    if not c & C.R:
        return C.NONE
    if is_directory:
        c &= ~C.W
    return c


def lease_step(s: LeaseBreakState, event: str) -> tuple[LeaseBreakState, tuple[str, ...]]:
    """One transition of the lease break machine (see module docstring)."""
    state, notified, required = s
    kind, _, arg = event.partition(":")
    if kind == "break":
        to = state & Caching(int(arg))
        if notified is None:
            if to == state:
                return s, ()
            if state & (C.W | C.H):
                return (state, to, to), (f"notify:{int(state)}:{int(to)}:1",)
            return (to, None, None), (f"notify:{int(state)}:{int(to)}:0",)
        assert required is not None
        return (state, notified, required & to), ()
    if kind == "ack":
        ack = Caching(int(arg))
        if notified is None:
            return s, ("error:UNSUCCESSFUL",)
        assert required is not None
        if ack & ~notified:
            return s, ("error:REQUEST_NOT_ACCEPTED",)
        if ack & ~required:
            # Windows breaks in steps: a state with H or W goes to R first (Samba downgrade_lease,
            # smb2.lease.breaking3)
            follow = ack & (required | C.R) if ack & (C.W | C.H) else ack & required
            if ack & (C.W | C.H):
                return (ack, follow, required), ("release", f"notify:{int(ack)}:{int(follow)}:1")
            return (follow, None, None), ("release", f"notify:{int(ack)}:{int(follow)}:0")
        return (ack, None, None), ("release",)
    if kind in ("timeout", "lost"):
        if notified is None:
            return s, ()
        assert required is not None
        # an unanswered break takes the whole lease (Samba lease_timeout_handler → none,
        # smb2.lease.timeout); a client that cannot be told ("lost") is taken as acknowledging
        return (C.NONE if kind == "timeout" else required, None, None), ("release",)
    raise KeyError(event)


def _valid_states() -> list[LeaseBreakState]:
    out: list[LeaseBreakState] = []
    for st in FILE_STATES:
        out.append((st, None, None))
        for n in FILE_STATES:
            if n == st or n & ~st or not st & (C.W | C.H):
                continue
            for r in FILE_STATES:
                if r & ~n:
                    continue
                out.append((st, n, r))
    return out


LEASE_EVENTS = tuple([f"break:{int(b)}" for b in FILE_STATES] + [f"ack:{int(b)}" for b in FILE_STATES]
                     + ["timeout", "lost"])
LEASE_TABLE = {(s, e): lease_step(s, e) for s in _valid_states() for e in LEASE_EVENTS}


@dataclass(eq=False, slots=True)
class LeaseRecord:
    """[MS-SMB2] 3.3.1.4 Lease."""

    client_guid: bytes
    key: bytes
    file_key: Hashable
    is_directory: bool
    version: int = 1
    state: Caching = C.NONE
    epoch: int = 0
    parent_key: bytes | None = None
    notified: Caching | None = None  # while breaking: what the notification asked for
    required: Caching | None = None  # while breaking: what must be reached (may be lower)
    deadline: int | None = None  # monotonic ns, while breaking
    opens: set[Hashable] = field(default_factory=set)
    last_open: Hashable = None  # the open that named the lease most recently (breaks go to its channel)
    fresh: bool = True  # not granted yet: the first grant takes what is allowed, later ones upgrade

    @property
    def breaking(self) -> bool:
        return self.notified is not None

    @property
    def machine_state(self) -> LeaseBreakState:
        return (self.state, self.notified, self.required)

    def apply(self, event: str, now: int, timeout_ns: int) -> tuple[str, ...]:
        """Run ``event`` through the table and update the record; returns the actions.

        A break notification bumps the v2 epoch (E4; the follow-up notification an ack triggers
        keeps it, as Windows does: smb2.lease.v2_breaking3) and (re)arms the deadline."""
        (self.state, self.notified, self.required), actions = lease_step(self.machine_state, event)
        for a in actions:
            if a.startswith("notify:"):
                if self.version >= 2 and event.startswith("break"):
                    self.epoch = (self.epoch + 1) & 0xFFFF
                self.deadline = now + timeout_ns if self.notified is not None else None
        if self.notified is None:
            self.deadline = None
        return actions


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """What the CREATE response's lease context says ([MS-SMB2] 2.2.14.2.10/.11)."""

    state: Caching
    epoch: int
    break_in_progress: bool


class LeaseError(Exception):
    """A lease request the server refuses (status name from NtStatus)."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(slots=True)
class LeaseTable:
    """Every lease of a volume, by (ClientGuid, LeaseKey)."""

    by_key: dict[tuple[bytes, bytes], LeaseRecord] = field(default_factory=dict)
    by_file: dict[Hashable, list[LeaseRecord]] = field(default_factory=dict)

    def get(self, client_guid: bytes, key: bytes) -> LeaseRecord | None:
        return self.by_key.get((client_guid, key))

    def of_file(self, file_key: Hashable) -> list[LeaseRecord]:
        return self.by_file.get(file_key, [])

    def lookup_for_open(self, client_guid: bytes, key: bytes, file_key: Hashable, is_directory: bool,
                        version: int, parent_key: bytes | None, epoch: int) -> LeaseRecord:
        """The lease this CREATE names, created (state none) if new; LeaseError INVALID_PARAMETER
        when the key already names another file (E1)."""
        lease = self.by_key.get((client_guid, key))
        if lease is not None:
            if lease.file_key != file_key:
                raise LeaseError("INVALID_PARAMETER")
            return lease
        lease = LeaseRecord(client_guid, key, file_key, is_directory, version, C.NONE,
                            epoch if version >= 2 else 0, parent_key)
        self.by_key[(client_guid, key)] = lease
        self.by_file.setdefault(file_key, []).append(lease)
        return lease

    @staticmethod
    def grant(lease: LeaseRecord, requested: int, allowed: Caching) -> LeaseGrant:
        """Upgrade ``lease`` toward ``requested`` within ``allowed`` ([MS-SMB2] 3.3.5.9.8).

        A new lease gets what is allowed of the request. An existing one changes only when the
        request is a superset of its state and can be granted in full (Samba ``try_lease_upgrade``:
        R held, RWH asked while another open prevents W → stays R, smb2.lease.upgrade3); no change
        while a break is outstanding (the response carries BREAK_IN_PROGRESS). A v2 lease's epoch
        counts the change."""
        want = normalize_request(requested, lease.is_directory) & allowed
        if lease.breaking:
            return LeaseGrant(lease.state, lease.epoch, True)
        fresh, lease.fresh = lease.fresh, False
        if not fresh and int(want) != requested:
            return LeaseGrant(lease.state, lease.epoch, False)
        if want & ~lease.state and not lease.state & ~want:
            lease.state = want
            if lease.version >= 2:
                lease.epoch = (lease.epoch + 1) & 0xFFFF
        return LeaseGrant(lease.state, lease.epoch, False)

    def attach(self, lease: LeaseRecord, open_ident: Hashable) -> None:
        lease.opens.add(open_ident)
        lease.last_open = open_ident

    def detach(self, lease: LeaseRecord, open_ident: Hashable) -> bool:
        """Remove an open from its lease; True when that dropped the lease (E3)."""
        lease.opens.discard(open_ident)
        if lease.opens:
            return False
        self.drop(lease)
        return True

    def drop(self, lease: LeaseRecord) -> None:
        self.by_key.pop((lease.client_guid, lease.key), None)
        lst = self.by_file.get(lease.file_key)
        if lst is not None:
            try:
                lst.remove(lease)
            except ValueError:
                pass
            if not lst:
                del self.by_file[lease.file_key]

    def rebind(self, old_file_key: Hashable, new_file_key: Hashable) -> None:
        """A rename moves the leases of a file with it."""
        lst = self.by_file.pop(old_file_key, None)
        if lst:
            for lease in lst:
                lease.file_key = new_file_key
            self.by_file.setdefault(new_file_key, []).extend(lst)

    def check_invariants(self) -> None:
        for (guid, key), lease in self.by_key.items():
            assert (lease.client_guid, lease.key) == (guid, key)
            assert lease in self.by_file.get(lease.file_key, []), "E1: lease not listed on its file"
            states = DIR_STATES if lease.is_directory else FILE_STATES
            assert lease.state in states, f"E2: {lease.state!r}"
            if lease.breaking:
                assert lease.required is not None and lease.notified is not None
                assert not lease.required & ~lease.notified and not lease.notified & ~lease.state
            assert lease.opens, "E3: lease without opens"
        for fk, lst in self.by_file.items():
            assert lst, f"empty lease list for {fk!r}"
            for lease in lst:
                assert self.by_key.get((lease.client_guid, lease.key)) is lease
