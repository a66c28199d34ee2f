"""MANIFEST: the sha256 of every member of a bundle, in `sha256sum -c` format.

Its last line is a comment carrying the sha256 of the lines above it, so that a changed
MANIFEST is itself detected (and named) rather than blamed on the member whose line changed.
`sha256sum -c` skips comment lines, so install.sh can check a bundle without Python.
"""
from __future__ import annotations

import hashlib
import re
from typing import BinaryIO

MANIFEST_NAME = "MANIFEST"
_SELF_PREFIX = "# manifest-sha256 "
_LINE = re.compile(r"^([0-9a-f]{64})  (.+)$")
_CHUNK = 1 << 20


class ManifestError(ValueError):
    """The MANIFEST is missing, malformed or altered."""


def sha256_stream(stream: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def render(digests: dict[str, str]) -> bytes:
    """MANIFEST text for {member path: sha256}, sorted by path, self-check line last."""
    body = "".join(f"{digests[name]}  {name}\n" for name in sorted(digests))
    self_digest = hashlib.sha256(body.encode()).hexdigest()
    return f"{body}{_SELF_PREFIX}{self_digest}\n".encode()


def parse(data: bytes) -> dict[str, str]:
    """{member path: sha256} from MANIFEST bytes; ManifestError if it was altered."""
    try:
        text = data.decode()
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{MANIFEST_NAME} is not text: {exc}") from exc
    body, sep, last = text.rstrip("\n").rpartition("\n")
    if not sep or not last.startswith(_SELF_PREFIX):
        raise ManifestError(f"{MANIFEST_NAME} has no self-check line: it was truncated or altered")
    body += "\n"
    if hashlib.sha256(body.encode()).hexdigest() != last.removeprefix(_SELF_PREFIX):
        raise ManifestError(f"{MANIFEST_NAME} does not match its own checksum: it was altered")
    return dict(_parse_line(line, n) for n, line in enumerate(body.splitlines(), 1))


def _parse_line(line: str, number: int) -> tuple[str, str]:
    match = _LINE.match(line)
    if not match:
        raise ManifestError(f"{MANIFEST_NAME} line {number} is malformed: {line!r}")
    return match.group(2), match.group(1)
