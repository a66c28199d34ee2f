"""Keys: create (secret shown once), revoke with confirmation, limits, budgets and usage."""
from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical

from tui.figures import fmt_any
from tui.payloads import ApiKey
from tui.screens.base import ConsoleScreen
from tui.widgets.common.confirm import ConfirmScreen
from tui.widgets.common.nav_bar import NavBar
from tui.widgets.common.table import RowsTable
from tui.widgets.keys.key_dialog import KeyDialog
from tui.widgets.keys.secret_dialog import SecretDialog


def _limit(value: object) -> str:
    return "∞" if value in (None, 0, "") else fmt_any(value)


class KeysTable(RowsTable):
    """Rows: tui.payloads.ApiKey; `used` holds the tokens each key used this month, by key id."""

    def __init__(self, **kwargs) -> None:
        super().__init__([
            ("name", "name", fmt_any), ("status", "status", fmt_any), ("tenant", "tenant", fmt_any),
            ("used/month", lambda key: self.used.get(key.id), fmt_any), ("budget", "token_budget", _limit),
            ("req/min", "requests_per_minute", _limit), ("tok/min", "tokens_per_minute", _limit),
            ("models", "allowed_models", lambda v: fmt_any(v) if v else "all"),
            ("id", "id", fmt_any),
        ], key="id", **kwargs)
        self.used: dict[str, int] = {}

    def show_keys(self, keys: list[ApiKey], used: dict[str, int]) -> None:
        self.used = used
        self.show(keys)


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
        self.query_one(KeysTable).show_keys(reply.data.data, await self._tokens_used())

    async def _tokens_used(self) -> dict[str, int]:
        """Tokens used this month per key id, from the usage report grouped by key."""
        reply = await self.client.usage("month", "key")
        if not reply.ok:
            return {}
        return {row.key_id: row.total_tokens for row in reply.data.rows if row.key_id is not None}

    def action_refresh(self) -> None:
        self.refresh_data()

    @work(group="action", exit_on_error=False)
    async def action_create(self) -> None:
        fields = await self.app.push_screen_wait(KeyDialog())
        if not fields:
            return
        reply = await self.client.create_key(fields)
        if self.check(reply):
            await self.app.push_screen_wait(SecretDialog(reply.data.name, reply.data.secret))
        self.refresh_data()

    @work(group="action", exit_on_error=False)
    async def action_edit(self) -> None:
        key = self._selected()
        if key is None:
            return
        fields = await self.app.push_screen_wait(KeyDialog(key))
        if fields is not None and self.check(await self.client.update_key(key.id, fields)):
            self.notify("limits saved")
        self.refresh_data()

    @work(group="action", exit_on_error=False)
    async def action_revoke(self) -> None:
        key = self._selected()
        if key is None:
            return
        if await self.app.push_screen_wait(ConfirmScreen(f"Revoke key {key.name}? Applications using it stop working.",
                                                         "Revoke")):
            if self.check(await self.client.revoke_key(key.id)):
                self.notify(f"key {key.name} revoked")
            self.refresh_data()

    def _selected(self) -> ApiKey | None:
        key = self.query_one(KeysTable).selected
        if key is None:
            self.notify("no key selected", severity="warning")
        return key
