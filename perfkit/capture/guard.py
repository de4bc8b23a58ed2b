"""The training comes first: a failure inside perfkit is reported once, never raised.

Probes call into the Session from the user's own calls (``.item()``, ``optimizer.step()``
...). A bug or an odd object there must cost the user a line on stderr, not the run.
"""

from __future__ import annotations

import sys
import threading

_lock = threading.Lock()
_seen: set[str] = set()
# Every distinct failure, for the run file's capture.errors.
errors: list[str] = []


def reset() -> None:
    """Forget earlier failures: a new session starts with none."""
    with _lock:
        _seen.clear()
        errors.clear()


def internal_error(where: str, exc: BaseException) -> None:
    text = f"{where}: {type(exc).__name__}: {exc}"
    with _lock:
        if where in _seen:
            return
        _seen.add(where)
        errors.append(text)
    try:
        print(f"perfkit: internal error in {text}; capture goes on without it", file=sys.stderr)
    except Exception:
        pass  # stderr closed: nothing more to do


def call(where: str, fn, *args) -> None:
    """``fn(*args)``, with any failure reported once instead of raised."""
    try:
        fn(*args)
    except Exception as e:
        internal_error(where, e)
