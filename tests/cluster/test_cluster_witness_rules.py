"""Pure witness rules: record codec and the TTL takeover decision (sofs.cluster.witness)."""
from __future__ import annotations

import pytest

from sofs.cluster.witness import (
    Observation,
    WitnessError,
    WitnessRecord,
    decide_takeover,
    from_config,
    next_record,
    released_record,
)


def test_record_round_trip_and_golden() -> None:
    rec = WitnessRecord("c1", "n1", 7, 3, 42, True)
    data = rec.encode()
    assert data == (b'{"cluster_id": "c1", "epoch": 7, "generation": 3, "node": "n1", '
                    b'"range_locked": true, "seq": 42}\n')
    assert WitnessRecord.decode(data) == rec


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'{"seq": "x"}', b"\xff\xfe"])
def test_garbage_record_is_free(data: bytes) -> None:
    assert WitnessRecord.decode(data).free


def test_takeover_table() -> None:
    held = WitnessRecord("c", "a", 1, 1, 5)
    seen = Observation()
    # other holder, fresh record: no; still unchanged at exactly ttl: no; past ttl: yes
    assert not decide_takeover(held, "b", 100.0, seen, 10.0)
    assert not decide_takeover(held, "b", 110.0, seen, 10.0)
    assert decide_takeover(held, "b", 110.1, seen, 10.0)
    # the holder renewed (seq changed): the challenger's timer restarts
    renewed = next_record(held, "c", "a", 1)
    assert not decide_takeover(renewed, "b", 115.0, seen, 10.0)
    assert seen.first_seen == 115.0
    # free, ours, holder known dead
    assert decide_takeover(WitnessRecord(), "b", 0.0, Observation(), 10.0)
    assert decide_takeover(held, "a", 0.0, Observation(), 10.0)
    assert decide_takeover(held, "b", 0.0, Observation(), 10.0, holder_dead=True)


def test_generation_bumps_only_on_change_of_hands() -> None:
    r1 = next_record(WitnessRecord(), "c", "a", 4)
    assert (r1.node, r1.epoch, r1.generation, r1.seq) == ("a", 4, 1, 1)
    r2 = next_record(r1, "c", "a", 5)
    assert (r2.generation, r2.seq, r2.epoch) == (1, 2, 5)
    r3 = next_record(r2, "c", "b", 6)
    assert (r3.node, r3.generation, r3.seq) == ("b", 2, 3)
    free = released_record(r3)
    assert free.free and free.generation == 2 and free.seq == 4
    assert next_record(free, "c", "b", 6).generation == 3


def test_from_config() -> None:
    w = from_config({"type": "disk", "path": "/nonexistent/w", "ttl": 3, "cluster_id": "c"})
    assert (w.kind, w.ttl, w.cluster_id) == ("disk", 3.0, "c")
    assert w.config()["path"] == "/nonexistent/w"
    with pytest.raises(WitnessError):
        from_config({"type": "floppy"})


def test_from_config_passes_clock(tmp_path: object) -> None:
    import asyncio

    w = from_config({"type": "disk", "path": f"{tmp_path}/w", "ttl": 4}, clock=lambda: 50.0)

    async def main() -> None:
        claim = await w.acquire("c", "n", 1)
        assert claim is not None and claim.valid_until == 54.0
        await w.close()
    asyncio.run(main())
