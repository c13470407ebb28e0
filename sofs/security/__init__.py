"""Windows security on files: tokens, the access check, descriptor inheritance, ABE.

- :mod:`token` — who the caller is as SIDs (user, groups, well-known) from the sofs user database.
- :mod:`access` — [MS-DTYP] 2.5.3.2 access check (MAXIMUM_ALLOWED, generic mapping, owner rights).
- :mod:`inherit` — [MS-DTYP] 2.5.3.4 CreateSecurityDescriptor: the descriptor a new file gets.
- :mod:`descriptor` — SET_INFO(SECURITY) merge rules and the default descriptor of files without one.
- :mod:`files` — the functions the CREATE / QUERY_INFO / SET_INFO paths call (sync; those doing
  I/O run in the file-system thread pool): ``stored_maximal_access`` + ``add_parent_rights`` (open),
  ``new_object_sd`` (create), ``query_security`` / ``set_security``.
- :mod:`share_acl` — share permissions (-FullAccess/-ChangeAccess/-ReadAccess/-NoAccess) as a
  descriptor checked with the same algorithm.
- :mod:`abe` — access-based enumeration (QUERY_DIRECTORY filter, Samba's readable rule).

TREE_CONNECT uses :func:`share_acl.share_maximal_access`; every caller gets its token from
:func:`token.token_of_session`. This is the only implementation of these rules in sofs.

Everything except :mod:`files` and :mod:`abe` is pure (no I/O) and tested by tables.
This package sits beside ``vfs``/``handlestate``: it imports ``wire`` and ``vfs`` (errors, xattr
names) only, never ``handlers``.
"""
