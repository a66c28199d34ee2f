"""Every cache policy, editable: prefix cache, eviction, tenant isolation, response and semantic cache."""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, Label, Select

from tui.payloads import CachePolicy
from tui.widgets.common.field import Field, FieldError

SWITCHES = [("prefix_caching", "Prefix caching"), ("tenant_isolation", "Tenant isolation"),
            ("response_cache", "Response cache"), ("semantic_cache", "Semantic cache")]
NUMBERS = [("capacity_blocks", "Capacity (blocks)", int),
           ("response_cache_ttl_seconds", "Response TTL (s)", float),
           ("response_cache_max_entries", "Response entries", int),
           ("semantic_threshold", "Semantic threshold", float)]


class PolicyForm(Vertical):
    class Applied(Message):
        def __init__(self, policy: dict[str, Any]) -> None:
            super().__init__()
            self.policy = policy

    def compose(self) -> ComposeResult:
        yield Label("Policy", classes="panel-title")
        with Horizontal(classes="field"):
            yield Label("Model", classes="field-label")
            yield Select([], prompt="all models", id="policy-model", compact=True)
        for name, label in SWITCHES:
            yield Checkbox(label, id=f"switch-{name}", compact=True)
        with Horizontal(classes="field"):
            yield Label("Eviction", classes="field-label")
            yield Select([("LRU", "lru"), ("LFU", "lfu")], value="lru", allow_blank=False, id="eviction", compact=True)
        for name, label, kind in NUMBERS:
            yield Field(label, name, kind)
        yield Button("Apply (ctrl+s)", variant="primary", id="apply", compact=True)

    known: frozenset[str] = frozenset()     # the settings the service reported
    policies: dict[str, CachePolicy] = {}

    def show_policies(self, policies: dict[str, CachePolicy]) -> None:
        """One policy per model: the model selector picks which one the form shows."""
        self.policies = policies
        select = self.query_one("#policy-model", Select)
        current = select.value
        select.set_options([(name, name) for name in policies if name])
        names = [name for name in policies if name]
        if current in names:
            select.value = current
        elif names:
            select.value = names[0]
        self.show(policies.get(self.model or "", next(iter(policies.values()), CachePolicy())))

    @property
    def model(self) -> str | None:
        value = self.query_one("#policy-model", Select).value
        return None if value is Select.NULL else str(value)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "policy-model" and self.model in self.policies:
            self.show(self.policies[self.model])

    def show(self, reply: CachePolicy) -> None:
        """Fill the form from the service's policy; settings the service does not report are disabled."""
        policy = reply.reported
        self.known = frozenset(policy)
        for name, _ in SWITCHES:
            if name in policy:
                self.query_one(f"#switch-{name}", Checkbox).value = bool(policy[name])
        if policy.get("eviction") in ("lru", "lfu"):
            self.query_one("#eviction", Select).value = policy["eviction"]
        for name, _, _ in NUMBERS:
            if name in policy:
                self.query_one(f"#field-{name.replace('_', '-')}", Field).set(policy[name])
        for name, widget in self._widgets():
            widget.disabled = bool(self.known) and name not in self.known

    def _widgets(self):
        for name, _ in SWITCHES:
            yield name, self.query_one(f"#switch-{name}")
        yield "eviction", self.query_one("#eviction")
        for name, _, _ in NUMBERS:
            yield name, self.query_one(f"#field-{name.replace('_', '-')}", Field).input

    def policy(self) -> dict[str, Any]:
        values: dict[str, Any] = {n: self.query_one(f"#switch-{n}", Checkbox).value for n, _ in SWITCHES}
        values["eviction"] = self.query_one("#eviction", Select).value
        for name, label, _ in NUMBERS:
            value = self.query_one(f"#field-{name.replace('_', '-')}", Field).value
            if value is None and self.known and name not in self.known:
                continue
            if value is None:
                raise FieldError(f"{label}: a value is required")
            values[name] = value
        values = {k: v for k, v in values.items() if k in self.known} if self.known else values
        return values | ({"model": self.model} if self.model else {})

    def apply(self) -> None:
        try:
            self.post_message(self.Applied(self.policy()))
        except FieldError as exc:
            self.notify(str(exc), severity="error")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.apply()
