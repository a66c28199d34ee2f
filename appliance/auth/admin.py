"""The admin credential, and the rule that auth may be off only on a loopback host."""
from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path

from appliance.config import Config


class AuthSettingError(ValueError):
    """The server's auth settings are unsafe; the message says which and why."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_auth_setting(config: Config) -> None:
    if not config.server.auth and not is_loopback(config.server.host):
        raise AuthSettingError(
            f"server.auth = false is allowed only on a loopback host, but server.host is "
            f"{config.server.host!r}; bind 127.0.0.1 or turn auth on.")


def admin_token(config: Config) -> str:
    """server.admin_token, or the token in <data_dir>/admin_token, generated (mode 0600) if absent."""
    if config.server.admin_token:
        return config.server.admin_token
    path = Path(config.data_dir) / "admin_token"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = "adm-" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token
