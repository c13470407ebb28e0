"""The API's TLS certificate: given (``--tls-cert``/``--tls-key``), or self-signed once at cluster
creation into ``<state dir>/tls/`` (``cryptography``), valid for the cluster name, ``localhost`` and
every node address, so one certificate serves every node of an embedded cluster."""
from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CERT, KEY = "cert.pem", "key.pem"


def tls_paths(state_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    d = Path(state_dir) / "tls"
    return d / CERT, d / KEY


def make_self_signed(state_dir: str | os.PathLike[str], cluster: str, addresses: Sequence[str],
                     days: int = 3650) -> tuple[Path, Path]:
    """Write a self-signed certificate and key (ECDSA P-256) unless they exist; returns their paths."""
    cert_path, key_path = tls_paths(state_dir)
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cluster or "sofs"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "sofs cluster")])
    alt: list[x509.GeneralName] = [x509.DNSName(cluster or "sofs"), x509.DNSName("localhost")]
    for a in sorted({"127.0.0.1", *addresses}):
        alt.append(x509.IPAddress(ipaddress.ip_address(a)))
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_key = key_path.with_suffix(".tmp")
    fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.replace(tmp_key, key_path)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def server_context(cert: str | os.PathLike[str], key: str | os.PathLike[str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx
