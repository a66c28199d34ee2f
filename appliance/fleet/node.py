"""A node of the fleet as the front sees it: a name and the address its API listens on."""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from appliance.config import NODE_NAME

_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


class NodeError(ValueError):
    """A node given on the command line is malformed; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if not NODE_NAME.fullmatch(self.name):
            raise NodeError(f"node name {self.name!r} must be 1-64 letters, digits, '.', '_' or '-'")
        if not (_HOST.fullmatch(self.host) or _is_ip(self.host)):
            raise NodeError(f"node {self.name}: {self.host!r} is not a host name or IP address")
        if not 0 < self.port < 65536:
            raise NodeError(f"node {self.name}: port {self.port} is not between 1 and 65535")

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> Node:
        """`name=host:port` (an IPv6 host in brackets: `name=[::1]:8420`)."""
        name, sep, address = text.partition("=")
        host, colon, port = address.rpartition(":")
        if not sep or not colon or not port.isdigit():
            raise NodeError(f"node {text!r} must be written name=host:port, e.g. gpu1=10.0.0.11:8420")
        return cls(name, host.removeprefix("[").removesuffix("]"), int(port))


def check_unique(nodes: list[Node]) -> None:
    """Names and addresses must differ: a name keys the ledger rows and budget holds of one node."""
    if not nodes:
        raise NodeError("name at least one node (--node name=host:port)")
    for attribute, plural in (("name", "names"), ("address", "addresses")):
        seen = [getattr(n, attribute) for n in nodes]
        duplicates = sorted({v for v in seen if seen.count(v) > 1})
        if duplicates:
            raise NodeError(f"node {plural} must be unique; given twice: {', '.join(duplicates)}")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False
