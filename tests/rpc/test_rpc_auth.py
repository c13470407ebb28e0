"""DCE/RPC authentication ([MS-RPCE] 2.2.2.11, 3.3.1.5.2): the sec_trailer codec (golden bytes), the
association's security state machine with a real NTLM client (pyspnego), and packet protection
round trips — requests protected the way the spec lays them out, responses checked by the client's
own unwrap. The live clients (impacket, Samba) are in test_rpc_auth_live.py."""
from __future__ import annotations

import struct

import pytest
import spnego
from spnego.iov import BufferType, IOVBuffer

from sofs.auth.ntlm import NtlmAcceptor
from sofs.auth.users import UserDb, UserEntry
from sofs.rpc.dcerpc import (
    HEADER_SIZE,
    NCA_S_PROTO_ERROR,
    PduError,
    PduHeader,
    PType,
    RpcFault,
    encode_bind_nak,
)
from sofs.rpc.dcerpc_auth import (
    AUTHN_GSS_KERBEROS,
    AUTHN_GSS_NEGOTIATE,
    AUTHN_WINNT,
    BIND_NAK_AUTH_TYPE_NOT_RECOGNIZED,
    LEVEL_CALL,
    LEVEL_CONNECT,
    LEVEL_PKT_INTEGRITY,
    LEVEL_PKT_PRIVACY,
    NCA_S_FAULT_ACCESS_DENIED,
    NCA_S_FAULT_SEC_PKG_ERROR,
    AuthPart,
    SecTrailer,
    append_auth,
    split_auth,
)
from sofs.rpc.dcerpc_security import AssociationSecurity, BindRefused, SecurityFault

USERS = {"alice": "Secret1!"}
CTX_ID = 79231


def _acceptor() -> NtlmAcceptor:
    return NtlmAcceptor(UserDb("S-1-5-21-1-2-3", [UserEntry("alice", password=USERS["alice"])]))


def test_sec_trailer_golden() -> None:
    # [MS-RPCE] 2.2.2.11: auth_type, auth_level, auth_pad_length, auth_reserved (1 octet each),
    # auth_context_id (4 octets, little-endian)
    t = SecTrailer(AUTHN_WINNT, LEVEL_PKT_PRIVACY, 4, CTX_ID)
    assert t.encode() == bytes.fromhex("0a 06 04 00 7f 35 01 00")
    assert SecTrailer.decode(bytes.fromhex("ff 0a 06 04 00 7f 35 01 00"), 1) == t
    with pytest.raises(PduError):
        SecTrailer.decode(b"\x0a\x06\x04")


def test_append_auth_golden() -> None:
    pdu = encode_bind_nak(5, 0)  # 16-octet header + 5 octets: 21, so 3 octets pad to the 4 boundary
    out = append_auth(pdu, SecTrailer(AUTHN_GSS_NEGOTIATE, LEVEL_CONNECT, 0, 1), b"TOK", flags=0x04)
    assert out == (bytes.fromhex("05 00 0d 07 10 00 00 00") + struct.pack("<HHI", 35, 3, 5)
                   + pdu[16:] + bytes(3) + bytes.fromhex("09 02 03 00 01 00 00 00") + b"TOK")
    hdr = PduHeader.decode(out)
    part = split_auth(out, hdr, HEADER_SIZE)
    assert (part.trailer, part.value, part.body_end) == (SecTrailer(9, 2, 3, 1), b"TOK", 21)


def test_split_auth_refuses_lengths_that_do_not_fit() -> None:
    pdu = append_auth(encode_bind_nak(1, 0), SecTrailer(10, 5, 0, 0), b"x" * 4)
    hdr = PduHeader.decode(pdu)
    with pytest.raises(PduError):  # auth_length larger than the PDU
        split_auth(pdu, PduHeader(hdr.ptype, hdr.flags, hdr.frag_length, 40, 1), HEADER_SIZE)
    bad_pad = bytearray(pdu)
    bad_pad[hdr.frag_length - 4 - 8 + 2] = 200  # auth_pad_length eating the header
    with pytest.raises(PduError):
        split_auth(bytes(bad_pad), hdr, HEADER_SIZE)


# -- the association, with pyspnego's NTLM client ------------------------------------------------------


def _pdu(ptype: int, call_id: int, body: bytes, trailer: SecTrailer | None = None, value: bytes = b"") -> bytes:
    pdu = struct.pack("<BBBB4sHHI", 5, 0, ptype, 3, b"\x10\x00\x00\x00", HEADER_SIZE + len(body), 0, call_id) + body
    return append_auth(pdu, trailer, value) if trailer is not None else pdu


def _part(pdu: bytes, body_start: int = HEADER_SIZE) -> AuthPart:
    return split_auth(pdu, PduHeader.decode(pdu), body_start)


def _request(client: spnego.ContextProxy, call_id: int, stub: bytes, level: int, *, auth_type: int = AUTHN_WINNT,
             tamper: bool = False) -> bytes:
    """A request PDU protected as [MS-RPCE] 3.3.1.5.2.2 lays it out (stub padded to 16, trailer, verifier)."""
    pad = -len(stub) % 16
    tr = SecTrailer(auth_type, level, pad, CTX_ID).encode()
    prefix = struct.pack("<BBBB4sHHIIHH", 5, 0, PType.REQUEST, 3, b"\x10\x00\x00\x00",
                         HEADER_SIZE + 8 + len(stub) + pad + 8 + 16, 16, call_id, len(stub), 0, 1)
    plain = stub + bytes(pad)
    if level == LEVEL_PKT_PRIVACY:
        res = client.wrap_iov([IOVBuffer(BufferType.sign_only, prefix), IOVBuffer(BufferType.data, plain),
                               IOVBuffer(BufferType.sign_only, tr), IOVBuffer(BufferType.header, None)])
        body, sig = res.buffers[1].data, res.buffers[3].data
    else:
        body, sig = plain, client.sign(prefix + plain + tr)
    if tamper:
        body = bytes([body[0] ^ 1]) + body[1:]
    return prefix + body + tr + sig


def _authenticated(level: int, password: str = USERS["alice"]) -> tuple[AssociationSecurity, spnego.ContextProxy]:
    client = spnego.client("alice", password, protocol="ntlm")
    sec = AssociationSecurity(_acceptor())
    trailer = SecTrailer(AUTHN_WINNT, level, 0, CTX_ID)
    challenge = sec.bind(_part(_pdu(PType.BIND, 1, bytes(12), trailer, client.step())))
    assert sec.state == sec.PENDING and challenge
    sec.auth3(_part(_pdu(PType.AUTH3, 1, bytes(4), trailer, client.step(challenge))))
    return sec, client


@pytest.mark.parametrize("level", [LEVEL_PKT_INTEGRITY, LEVEL_PKT_PRIVACY])
def test_protected_request_and_fragmented_responses(level: int) -> None:
    sec, client = _authenticated(level)
    assert (sec.state, sec.level, sec.user_name) == (sec.DONE, level, "alice")
    for call_id, stub in enumerate((b"hello", b"", b"x" * 33, bytes(range(256)) * 20), start=2):
        pdu = _request(client, call_id, stub, level)
        assert sec.request_stub(pdu, PduHeader.decode(pdu)) == stub
    stub = bytes(range(251)) * 40  # 10040 octets: 3 fragments of at most 4280
    frags = sec.responses(9, 0, stub, 4280)
    assert len(frags) == 3
    got = b""
    for i, f in enumerate(frags):
        hdr = PduHeader.decode(f)
        assert hdr.ptype == PType.RESPONSE and hdr.frag_length == len(f) <= 4280 and hdr.auth_length == 16
        assert bool(hdr.flags & 1) == (i == 0) and bool(hdr.flags & 2) == (i == 2)
        part = split_auth(f, hdr, HEADER_SIZE + 8)
        assert part.trailer.same_security(SecTrailer(AUTHN_WINNT, level, 0, CTX_ID))
        assert (part.trailer_offset - HEADER_SIZE - 8) % 16 == 0  # stub padded to 16
        body = f[HEADER_SIZE + 8 : part.trailer_offset]
        if level == LEVEL_PKT_PRIVACY:
            assert body[: part.trailer_offset - part.trailer.pad_length] != stub[: len(body)]  # encrypted
            res = client.unwrap_iov([IOVBuffer(BufferType.sign_only, f[: HEADER_SIZE + 8]),
                                     IOVBuffer(BufferType.data, body),
                                     IOVBuffer(BufferType.sign_only, f[part.trailer_offset : part.trailer_offset + 8]),
                                     IOVBuffer(BufferType.header, part.value)])
            body = res.buffers[1].data
        else:
            client.verify(part.signed, part.value)  # raises on a bad signature
        got += body[: len(body) - part.trailer.pad_length]
    assert got == stub


@pytest.mark.parametrize("level", [LEVEL_PKT_INTEGRITY, LEVEL_PKT_PRIVACY])
def test_tampered_or_mismatched_requests_fault_and_close(level: int) -> None:
    sec, client = _authenticated(level)
    pdu = _request(client, 2, b"some stub data", level, tamper=True)
    with pytest.raises(SecurityFault) as ei:
        sec.request_stub(pdu, PduHeader.decode(pdu))
    assert ei.value.status == NCA_S_FAULT_SEC_PKG_ERROR
    sec, client = _authenticated(level)
    other = LEVEL_PKT_INTEGRITY if level == LEVEL_PKT_PRIVACY else LEVEL_PKT_PRIVACY
    pdu = _request(client, 2, b"stub", other)  # another level than the bind's
    with pytest.raises(SecurityFault) as ei:
        sec.request_stub(pdu, PduHeader.decode(pdu))
    assert ei.value.status == NCA_S_FAULT_SEC_PKG_ERROR
    plain = _pdu(PType.REQUEST, 3, struct.pack("<IHH", 4, 0, 1) + b"stub")
    with pytest.raises(SecurityFault) as ei:  # no verifier at all
        sec.request_stub(plain, PduHeader.decode(plain))
    assert ei.value.status == NCA_S_FAULT_ACCESS_DENIED


def test_connect_level_takes_requests_with_or_without_verifier() -> None:
    sec, client = _authenticated(LEVEL_CONNECT)
    assert sec.state == sec.DONE
    plain = _pdu(PType.REQUEST, 2, struct.pack("<IHH", 4, 0, 1) + b"stub")
    assert sec.request_stub(plain, PduHeader.decode(plain)) == b"stub"
    signed = _request(client, 3, b"stub", LEVEL_CONNECT)
    assert sec.request_stub(signed, PduHeader.decode(signed)) == b"stub"
    assert PduHeader.decode(sec.responses(2, 0, b"out", 4280)[0]).auth_length == 0


def test_wrong_password_fails_the_association() -> None:
    sec, _client = _authenticated(LEVEL_PKT_PRIVACY, password="wrong")
    assert sec.state == sec.FAILED
    pdu = _pdu(PType.REQUEST, 2, struct.pack("<IHH", 4, 0, 1) + b"stub")
    with pytest.raises(SecurityFault) as ei:
        sec.request_stub(pdu, PduHeader.decode(pdu))
    assert ei.value.status == NCA_S_FAULT_ACCESS_DENIED


def test_requests_before_the_exchange_completes_are_refused() -> None:
    client = spnego.client("alice", USERS["alice"], protocol="ntlm")
    sec = AssociationSecurity(_acceptor())
    sec.bind(_part(_pdu(PType.BIND, 1, bytes(12), SecTrailer(AUTHN_WINNT, LEVEL_PKT_INTEGRITY, 0, CTX_ID),
                        client.step())))
    pdu = _pdu(PType.REQUEST, 2, struct.pack("<IHH", 4, 0, 1) + b"stub")
    with pytest.raises(SecurityFault):
        sec.request_stub(pdu, PduHeader.decode(pdu))


@pytest.mark.parametrize("auth_type,level,reason", [
    (AUTHN_GSS_KERBEROS, LEVEL_PKT_PRIVACY, BIND_NAK_AUTH_TYPE_NOT_RECOGNIZED),
    (68, LEVEL_PKT_PRIVACY, BIND_NAK_AUTH_TYPE_NOT_RECOGNIZED),  # Netlogon secure channel
    (AUTHN_WINNT, LEVEL_CALL, 0),
    (AUTHN_WINNT, 1, 0),
])
def test_unsupported_binds_are_refused(auth_type: int, level: int, reason: int) -> None:
    client = spnego.client("alice", USERS["alice"], protocol="ntlm")
    sec = AssociationSecurity(_acceptor())
    with pytest.raises(BindRefused) as ei:
        sec.bind(_part(_pdu(PType.BIND, 1, bytes(12), SecTrailer(auth_type, level, 0, 1), client.step())))
    assert ei.value.reason == reason


def test_no_acceptor_refuses_authenticated_binds_and_anonymous_requests_carry_no_trailer() -> None:
    sec = AssociationSecurity(None)
    with pytest.raises(BindRefused) as ei:
        sec.bind(_part(_pdu(PType.BIND, 1, bytes(12), SecTrailer(AUTHN_WINNT, LEVEL_CONNECT, 0, 1), b"x")))
    assert ei.value.reason == BIND_NAK_AUTH_TYPE_NOT_RECOGNIZED
    anon = AssociationSecurity(None)
    pdu = _pdu(PType.REQUEST, 2, struct.pack("<IHH", 4, 0, 1) + b"stub")
    assert anon.request_stub(pdu, PduHeader.decode(pdu)) == b"stub"
    with_trailer = append_auth(pdu, SecTrailer(AUTHN_WINNT, LEVEL_CONNECT, 0, 1), bytes(16))
    with pytest.raises(RpcFault) as e2:
        anon.request_stub(with_trailer, PduHeader.decode(with_trailer))
    assert e2.value.status == NCA_S_PROTO_ERROR and not isinstance(e2.value, SecurityFault)


def test_spnego_exchange_through_alter_context() -> None:
    """SPNEGO (as Samba and Windows clients bind): bind → bind_ack → alter_context → alter_context_resp."""
    client = spnego.client("alice", USERS["alice"], protocol="negotiate", options=spnego.NegotiateOptions.use_ntlm)
    sec = AssociationSecurity(_acceptor())
    trailer = SecTrailer(AUTHN_GSS_NEGOTIATE, LEVEL_PKT_PRIVACY, 0, CTX_ID)
    out = sec.bind(_part(_pdu(PType.BIND, 1, bytes(12), trailer, client.step())))
    last = sec.alter(_part(_pdu(PType.ALTER_CONTEXT, 2, bytes(12), trailer, client.step(out))))
    client.step(last)  # checks the server's mechListMIC
    assert client.complete and sec.state == sec.DONE
    pdu = _request(client, 3, b"sealed through SPNEGO", LEVEL_PKT_PRIVACY, auth_type=AUTHN_GSS_NEGOTIATE)
    assert sec.request_stub(pdu, PduHeader.decode(pdu)) == b"sealed through SPNEGO"
