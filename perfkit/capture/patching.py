"""Install and remove attribute patches on torch, restoring exactly what was there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MISSING = object()


class Patches:
    """A list of (owner, name) replacements that can all be undone in reverse order."""

    def __init__(self) -> None:
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, make: Callable[[Any], Any]) -> None:
        """Replace ``owner.name`` with ``make(original)``; skip quietly if it does not exist."""
        original = getattr(owner, name, _MISSING)
        if original is _MISSING:
            return
        own = owner.__dict__.get(name, _MISSING) if hasattr(owner, "__dict__") else original
        setattr(owner, name, make(original))
        self._undo.append((owner, name, own))

    def undo(self) -> None:
        while self._undo:
            owner, name, own = self._undo.pop()
            if own is _MISSING:
                delattr(owner, name)
            else:
                setattr(owner, name, own)

    def __bool__(self) -> bool:
        return bool(self._undo)
