"""What a bundle is built for: CPU or CUDA torch, a Python version, a platform."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

KINDS = ("cpu", "cuda")
DEFAULT_TORCH = {"cpu": "2.13.0", "cuda": ""}   # "" takes the newest the index offers
_PYTHON = re.compile(r"^3\.(\d{1,2})$")
_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(x86_64|aarch64)$")


class TargetError(ValueError):
    """A target setting is invalid; the message names it."""


@dataclass(slots=True)
class Target:
    kind: str = "cpu"
    python: str = "3.11"
    platform: str = "manylinux_2_28_x86_64"
    torch: str | None = None                      # None: DEFAULT_TORCH[kind]
    extra_index_urls: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise TargetError(f"--target must be one of {', '.join(KINDS)}, got {self.kind!r}")
        if not _PYTHON.match(self.python):
            raise TargetError(f"--python must look like 3.11, got {self.python!r}")
        if not _MANYLINUX.match(self.platform):
            raise TargetError(f"--platform must look like manylinux_2_28_x86_64, got {self.platform!r}")
        if self.torch is None:
            self.torch = DEFAULT_TORCH[self.kind]

    @property
    def slug(self) -> str:
        return f"{self.kind}-py{self.python}-{self.platform}"

    def describe(self) -> dict[str, object]:
        return {"target": self.kind, "python": self.python, "platform": self.platform,
                "torch": self.torch, "extra_index_urls": list(self.extra_index_urls)}

    def pip_tag_args(self) -> list[str]:
        """pip download flags selecting wheels for this interpreter and platform."""
        abi = "cp3" + _PYTHON.match(self.python).group(1)  # type: ignore[union-attr]
        args = ["--python-version", self.python, "--implementation", "cp",
                "--abi", abi, "--abi", "abi3", "--abi", "none"]
        for platform in self.compatible_platforms():
            args += ["--platform", platform]
        return args

    def compatible_platforms(self) -> list[str]:
        """The platform and every older manylinux tag it can run (pip does not expand them)."""
        major, minor, arch = _MANYLINUX.match(self.platform).groups()  # type: ignore[union-attr]
        tags = [f"manylinux_{major}_{m}_{arch}" for m in range(int(minor), 4, -1)]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        tags += [f"{name}_{arch}" for glibc, name in legacy.items() if int(minor) >= glibc]
        return tags

    def pip_index_args(self) -> list[str]:
        return [arg for url in self.extra_index_urls for arg in ("--extra-index-url", url)]
