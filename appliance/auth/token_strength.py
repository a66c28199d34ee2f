"""The rule that an admin credential is strong enough to face a network.

A generated token has 43 random characters. A configured one is refused when it is shorter
than MIN_LENGTH or has fewer than MIN_DISTINCT different characters ("aaaa...", "1212..."):
the admin API can unload models and mint keys, and failed attempts are only throttled.
"""
from __future__ import annotations

from appliance.auth.admin import AuthSettingError

MIN_LENGTH = 16
MIN_DISTINCT = 6


def check_admin_token(token: str) -> None:
    if len(token) < MIN_LENGTH:
        raise AuthSettingError(
            f"the admin token is too weak: {len(token)} characters, at least {MIN_LENGTH} are required; "
            "set a longer server.admin_token, or leave it empty to have one generated into <data_dir>/admin_token.")
    if len(set(token)) < MIN_DISTINCT:
        raise AuthSettingError(
            f"the admin token is too weak: only {len(set(token))} different characters, at least {MIN_DISTINCT} "
            "are required; set a random server.admin_token, or leave it empty to have one generated.")
