"""Reading GET /admin/cache/policy, which answers one policy per loaded model."""
from __future__ import annotations

from typing import Any

from tui.figures import as_list, first


def read_policies(data: Any) -> dict[str, dict]:
    """Model name -> its policy; the name is "" when the service answers a single policy."""
    if not isinstance(data, dict):
        return {}
    if isinstance(data.get("policy"), dict):
        return {str(data.get("model", "")): data["policy"]}
    rows = as_list(data, "data", "policies", "models")
    if rows:
        return {str(first(r, "model", "name")): _strip(first(r, "policy", default=r)) for r in rows}
    if data and all(isinstance(v, dict) for v in data.values()):
        return {name: _strip(policy) for name, policy in data.items()}
    return {"": data}


def _strip(policy: dict) -> dict:
    return {k: v for k, v in policy.items() if k not in ("model", "name")}
