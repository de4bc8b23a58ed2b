"""``@profile_step``: mark a function (or method) as one training step."""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar, overload

from perfkit.capture import guard, probes, state
from perfkit.capture.session import Session

F = TypeVar("F", bound=Callable[..., Any])

_default_lock = threading.Lock()
_default: Session | None = None


def _session_for(options: dict[str, Any]) -> Session:
    """The active session, or the default one, started on the first decorated call."""
    global _default
    sess = state.session
    if sess is not None:
        return sess
    with _default_lock:
        if _default is None or _default.closed:
            _default = Session(**options).start()
        return _default


def _begin(options: dict[str, Any]) -> Session | None:
    """Open a step in the session; None when that failed (the step runs, unrecorded)."""
    try:
        sess = _session_for(options)
        sess.begin_step()
    except Exception as e:
        guard.internal_error("starting a step", e)
        return None
    return sess


def default_session() -> Session | None:
    return _default


@overload
def profile_step(fn: F) -> F: ...
@overload
def profile_step(fn: None = None, **options: Any) -> Callable[[F], F]: ...


def profile_step(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Record each call of ``fn`` as one training step.

    Use bare (``@profile_step``) or with Session options
    (``@profile_step(out="runs/exp1", window=(5, 2, 3))``). Without an explicit
    ``perfkit.Session`` the first call starts a default session, saved at exit. The step's
    return value is passed through and its exceptions propagate unchanged. An ``async def``
    step is one step from its call to its return, awaits included.
    """
    # Fail at decoration time on a misspelt option, not at the first step.
    inspect.signature(Session).bind(**options)

    def decorate(step_fn: Callable[..., Any]) -> Callable[..., Any]:
        # Install probes now: DataLoaders are usually iterated before the first step runs.
        probes.acquire()

        if inspect.iscoroutinefunction(step_fn):

            @functools.wraps(step_fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                sess = _begin(options)
                if sess is None:
                    return await step_fn(*args, **kwargs)
                try:
                    result = await step_fn(*args, **kwargs)
                except BaseException as e:
                    guard.call("ending a step", sess.end_step, e)
                    raise
                guard.call("ending a step", sess.end_step)
                return result

            return async_wrapper

        @functools.wraps(step_fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            sess = _begin(options)
            if sess is None:
                return step_fn(*args, **kwargs)
            try:
                result = step_fn(*args, **kwargs)
            except BaseException as e:
                guard.call("ending a step", sess.end_step, e)
                raise
            guard.call("ending a step", sess.end_step)
            return result

        return wrapper

    return decorate(fn) if fn is not None else decorate
