"""Handle state: the per-volume open table and its coordinator.

Modules:
- ``api``          -- the one interface to a volume's handle state (``HandleService``, ``Sink``) and
                      its messages; what every serving process uses, in-process or over a link.
- ``coordinator``  -- ``VolumeCoordinator``: implements it for one volume; topic modules
                      ``coord_create`` (admission, durable, replay, reconnect, reclaim), ``coord_caching``
                      (oplocks, leases, breaks), ``coord_locks`` (byte-range locks, mirrored facts),
                      ``coord_notify`` (change notify, directory lease breaks), ``coord_names``
                      (rename, delete dispositions).
- ``model``        -- ``Open``, ``OpenFile`` and the **invariants I1-I8**.
- ``table``        -- ``OpenTable``: the opens of a volume with their locks and leases; every change
                      goes through ``apply(record)`` (or ``log`` for the lock/lease machines).
- ``records`` / ``apply`` / ``journal`` / ``journal_codec`` -- journal records, how each changes the
                      table (live and replay), and the persistent-handle journal on the volume.
- ``rules``, ``oplocks``, ``leases``, ``locks``, ``notify``, ``durable``, ``replay``, ``appinstance``
                   -- pure decisions and state machines, tested by tables.
"""
