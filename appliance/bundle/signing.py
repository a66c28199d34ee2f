"""Bundle signatures: ed25519 over MANIFEST, which holds the sha256 of every other member.

A checksum proves a bundle is intact; a signature proves whose it is. The signature is
MANIFEST.sig, the raw 64 bytes over MANIFEST's bytes. Keys are PEM files, PKCS#8 private and
SubjectPublicKeyInfo public: exactly what `openssl genpkey -algorithm ed25519` writes, so
install.sh checks a signature with `openssl pkeyutl -verify -rawin` and the target host
needs no Python library for it. A key's fingerprint is the sha256 of its public DER bytes
(`openssl pkey -pubin -in KEY -outform DER | sha256sum`), for comparing out of band.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

SIGNATURE_NAME = "MANIFEST.sig"


class SigningError(ValueError):
    """A key cannot be read or a signature does not verify; the message names the file."""


def _crypto() -> tuple[Any, Any]:   # the `sign` extra: only the machine that builds or checks bundles needs it
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise SigningError("signing needs the cryptography package: pip install 'airlock[sign]'") from None
    return serialization, ed25519


def generate_key(private_path: Path) -> Path:
    """Write a new private key (mode 0600) and its public half beside it (<name>.pub)."""
    serialization, ed25519 = _crypto()
    private_path, public_path = Path(private_path), Path(f"{private_path}.pub")
    for path in (private_path, public_path):
        if path.exists():
            raise SigningError(f"{path} exists: refusing to overwrite a key")
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public_path.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return public_path


def sign(manifest: bytes, private_path: Path) -> bytes:
    serialization, ed25519 = _crypto()
    key = _load(private_path, lambda data: serialization.load_pem_private_key(data, password=None))
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise SigningError(f"{private_path} is not an ed25519 private key")
    return key.sign(manifest)


def verify(manifest: bytes, signature: bytes, public_path: Path) -> None:
    """Raise SigningError unless `signature` over `manifest` was made by public_path's key."""
    key = public_key(public_path)
    from cryptography.exceptions import InvalidSignature
    try:
        key.verify(signature, manifest)
    except InvalidSignature:
        raise SigningError(f"the signature does not match {public_path}: signed by another key, "
                           "or MANIFEST was altered") from None


def public_key(public_path: Path) -> Any:   # an Ed25519PublicKey
    serialization, ed25519 = _crypto()
    key = _load(public_path, serialization.load_pem_public_key)
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise SigningError(f"{public_path} is not an ed25519 public key")
    return key


def fingerprint(public_path: Path) -> str:
    serialization, _ = _crypto()
    der = public_key(public_path).public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _load(path: Path, parse: Callable[[bytes], Any]) -> Any:
    try:
        return parse(Path(path).read_bytes())
    except OSError as exc:
        raise SigningError(f"cannot read key {path}: {exc.strerror}") from None
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path} is not a PEM key: {exc}") from None
