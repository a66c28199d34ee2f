"""The row of screens and their keys, the current one highlighted."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

SCREENS = [("f1", "dashboard", "Dashboard"), ("f2", "models", "Models"), ("f3", "memory", "Memory"),
           ("f4", "caches", "Caches"), ("f5", "cost", "Cost"), ("f6", "keys", "Keys")]


class NavBar(Static):
    def __init__(self, current: str) -> None:
        super().__init__(id="nav")
        self.current = current

    def render(self) -> Text:
        text = Text()
        for key, mode, title in SCREENS:
            style = "reverse bold" if mode == self.current else ""
            text.append(f" {key.upper()} ", style=style or "bold cyan")
            text.append(f"{title} ", style=style)
        return text

    async def on_click(self, event) -> None:
        offset, x = 0, event.x
        for key, mode, title in SCREENS:
            offset += len(key) + len(title) + 3
            if x < offset:
                await self.app.switch_mode(mode)
                return
