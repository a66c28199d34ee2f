"""Keys: create (secret shown once), revoke with confirmation, limits, budgets and usage."""
from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical

from tui.figures import as_list, first, fmt_any
from tui.screens.base import ConsoleScreen
from tui.widgets.common.confirm import ConfirmScreen
from tui.widgets.common.nav_bar import NavBar
from tui.widgets.common.table import RowsTable
from tui.widgets.keys.key_dialog import KeyDialog
from tui.widgets.keys.secret_dialog import SecretDialog


def _limit(value: object) -> str:
    return "∞" if value in (None, 0, "") else fmt_any(value)


class KeysTable(RowsTable):
    def __init__(self, **kwargs) -> None:
        super().__init__([
            ("name", "name", fmt_any), ("status", "status", fmt_any), ("tenant", "tenant", fmt_any),
            ("used/month", "tokens_used", fmt_any), ("budget", "token_budget|budget_tokens", _limit),
            ("req/min", "requests_per_minute|rpm", _limit), ("tok/min", "tokens_per_minute|tpm", _limit),
            ("models", "allowed_models|models", lambda v: fmt_any(v) if v else "all"),
            ("id", "id|key_id", fmt_any),
        ], key="id", **kwargs)


class KeysScreen(ConsoleScreen):
    HEADING = "API keys"
    BINDINGS = [Binding("n", "create", "New key"), Binding("e", "edit", "Limits"),
                Binding("delete,x", "revoke", "Revoke"), Binding("r", "refresh", "Refresh")]

    def body(self) -> ComposeResult:
        yield NavBar("keys")
        with Vertical(classes="body"):
            yield KeysTable(id="keys")

    async def load(self) -> None:
        reply = await self.client.keys()
        if not self.check(reply):
            return
        used = await self._tokens_used()
        keys = [dict(k, status="revoked" if first(k, "revoked", "revoked_at") else "active",
                     tokens_used=used.get(self.key_id(k), used.get(str(first(k, "name")))))
                for k in as_list(reply.data, "keys", "data")]
        self.query_one(KeysTable).show(keys)

    async def _tokens_used(self) -> dict[str, float]:
        """Tokens used this month per key id (and name), from the usage report."""
        reply = await self.client.usage("month", "key")
        used: dict[str, float] = {}
        for row in as_list(reply.data, "rows", "data", "groups", "usage") if reply.ok else []:
            tokens = first(row, "total_tokens", "tokens")
            if tokens is None:
                tokens = (first(row, "prompt_tokens", default=0) or 0) + (first(row, "completion_tokens", default=0) or 0)
            for name in ("key_id", "key", "id", "name", "key_name"):
                if first(row, name) is not None:
                    used[str(first(row, name))] = tokens
        return used

    def action_refresh(self) -> None:
        self.refresh_data()

    @work(group="action", exit_on_error=False)
    async def action_create(self) -> None:
        fields = await self.app.push_screen_wait(KeyDialog())
        if not fields:
            return
        reply = await self.client.create_key(fields)
        if self.check(reply):
            secret = first(reply.data, "secret", "key", "api_key", "token", default="")
            await self.app.push_screen_wait(SecretDialog(fields["name"], str(secret)))
        self.refresh_data()

    @work(group="action", exit_on_error=False)
    async def action_edit(self) -> None:
        key = self._selected()
        if key is None:
            return
        fields = await self.app.push_screen_wait(KeyDialog(key))
        if fields is not None and self.check(await self.client.update_key(self.key_id(key), fields)):
            self.notify("limits saved")
        self.refresh_data()

    @work(group="action", exit_on_error=False)
    async def action_revoke(self) -> None:
        key = self._selected()
        if key is None:
            return
        name = first(key, "name", default=self.key_id(key))
        if await self.app.push_screen_wait(ConfirmScreen(f"Revoke key {name}? Applications using it stop working.", "Revoke")):
            if self.check(await self.client.revoke_key(self.key_id(key))):
                self.notify(f"key {name} revoked")
            self.refresh_data()

    def _selected(self) -> dict | None:
        key = self.query_one(KeysTable).selected
        if key is None:
            self.notify("no key selected", severity="warning")
        return key

    @staticmethod
    def key_id(key: dict) -> str:
        return str(first(key, "id", "key_id"))
