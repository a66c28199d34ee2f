"""Errors of the model store and the model manager; each message names what is wrong."""
from __future__ import annotations


class StoreError(Exception):
    """An import, lookup or removal in the model store failed."""


class ModelNotFound(StoreError):
    """No model of that name is in the store."""

    def __init__(self, name: str, available: list[str]) -> None:
        listed = ", ".join(available) or "none"
        super().__init__(f"model {name!r} is not in the store (available: {listed})")
        self.name = name
        self.available = available


class ModelNotLoaded(Exception):
    """A request named a model that is not resident."""

    def __init__(self, name: str, loaded: list[str]) -> None:
        listed = ", ".join(loaded) or "none"
        super().__init__(f"model {name!r} is not loaded (loaded: {listed})")
        self.name = name
        self.loaded = loaded


class InsufficientMemory(Exception):
    """A load was refused before any weight moved: its reservation exceeds the free budget."""

    def __init__(self, name: str, needed: int, free: int, budget: int) -> None:
        super().__init__(
            f"model {name!r} needs {_mib(needed)} but only {_mib(free)} of the "
            f"{_mib(budget)} budget is free; unload a model or choose a smaller quantization"
        )
        self.name = name
        self.needed = needed
        self.free = free
        self.budget = budget


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.1f} MiB"
