"""Check a bundle archive against its MANIFEST and name every member that differs; with a
public key, check MANIFEST.sig too (a signed MANIFEST vouches for every member)."""
from __future__ import annotations

import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from appliance.bundle import signing
from appliance.bundle.manifest import MANIFEST_NAME, ManifestError, parse, sha256_stream


@dataclass(slots=True)
class VerifyReport:
    archive: Path
    checked: int = 0
    changed: list[str] = field(default_factory=list)      # content differs from the MANIFEST
    missing: list[str] = field(default_factory=list)      # listed, absent (or unreadable)
    unexpected: list[str] = field(default_factory=list)   # present, not listed
    errors: list[str] = field(default_factory=list)       # the archive, MANIFEST or its signature
    signed: bool = False                                   # MANIFEST.sig present

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.unexpected or self.errors)

    def problems(self) -> list[str]:
        return (self.errors
                + [f"{name}: content differs from MANIFEST" for name in self.changed]
                + [f"{name}: listed in MANIFEST but missing or unreadable" for name in self.missing]
                + [f"{name}: not listed in MANIFEST" for name in self.unexpected])


def verify_bundle(archive: str | Path, public_key: Path | None = None) -> VerifyReport:
    report = VerifyReport(Path(archive))
    try:
        digests, manifest, signature = _read_members(report.archive, report)
    except (OSError, tarfile.TarError) as exc:
        report.errors.append(f"{archive}: cannot read archive: {exc}")
        return report
    if manifest is None:
        report.errors.append(f"{archive}: has no {MANIFEST_NAME}")
        return report
    try:
        expected = parse(manifest)
    except ManifestError as exc:
        report.errors.append(str(exc))
        return report
    report.signed = signature is not None
    _compare(expected, digests, report)
    if public_key is not None:
        _check_signature(manifest, signature, public_key, report)
    return report


def _check_signature(manifest: bytes, signature: bytes | None, public_key: Path, report: VerifyReport) -> None:
    if signature is None:
        report.errors.append(f"{signing.SIGNATURE_NAME}: missing, but a key was given: the bundle is not signed")
        return
    try:
        signing.verify(manifest, signature, public_key)
    except signing.SigningError as exc:
        report.errors.append(f"{signing.SIGNATURE_NAME}: {exc}")


def _read_members(archive: Path, report: VerifyReport) -> tuple[dict[str, str], bytes | None, bytes | None]:
    """{path below the top folder: sha256} for every regular file, the MANIFEST bytes and
    the signature's.

    ignore_zeros: a damaged header is skipped (its member then shows as missing) instead of
    silently ending the archive there."""
    digests: dict[str, str] = {}
    manifest = signature = None
    with tarfile.open(archive, "r:*", ignore_zeros=True) as tar:
        for member in tar:
            name = _relative(member.name)
            if not member.isfile():
                if not member.isdir():
                    report.errors.append(f"{member.name}: not a regular file or folder")
                continue
            stream = tar.extractfile(member)
            assert stream is not None
            if name == MANIFEST_NAME:
                manifest = stream.read()
            elif name == signing.SIGNATURE_NAME:
                signature = stream.read()
            else:
                digests[name] = sha256_stream(stream)
    return digests, manifest, signature


def _compare(expected: dict[str, str], actual: dict[str, str], report: VerifyReport) -> None:
    for name, digest in sorted(expected.items()):
        if name not in actual:
            report.missing.append(name)
        elif actual[name] != digest:
            report.changed.append(name)
        report.checked += 1
    report.unexpected.extend(sorted(set(actual) - set(expected)))


def _relative(name: str) -> str:
    """Member path below the bundle's single top-level folder."""
    return name.partition("/")[2] or name
