"""``@profile_step``: mark a function (or method) as one training step."""

from __future__ import annotations

import functools
import inspect
import sys
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TypeVar, overload

from perfkit.capture import guard, probes, state
from perfkit.capture.session import Session
from perfkit.capture.window import WindowSpec
from perfkit.capture.window_ranks import WindowRanks

F = TypeVar("F", bound=Callable[..., Any])

_default_lock = threading.Lock()
_default: Session | None = None


def _session_for(options: dict[str, Any]) -> Session | None:
    """The active session, or the default one, started on the first decorated call. None
    once a stop signal ended the default session: a script that ignores SIGTERM and trains
    on does so unrecorded, rather than in a second run directory."""
    global _default
    sess = state.session
    if sess is not None:
        return sess
    with _default_lock:
        if _default is not None and _default.closed and _default.env.get("interrupted"):
            return None
        if _default is None or _default.closed:
            _default = Session(**options).start()
        return _default


def _begin(options: dict[str, Any]) -> Session | None:
    """Open a step in the session; None when that failed or there is none (the step runs,
    unrecorded)."""
    try:
        sess = state.session
        if sess is None:
            sess = _session_for(options)
            if sess is None:
                return None
        sess.begin_step()
    except Exception as e:
        guard.internal_error("starting a step", e)
        return None
    return sess


def _end(sess: Session, error: BaseException | None = None) -> None:
    try:
        sess.end_step(error)
    except Exception as e:
        guard.internal_error("ending a step", e)


def _each_resumption_a_step(gen: Generator[Any, Any, Any], options: dict[str, Any]) -> Any:
    """Drive ``gen`` as ``yield from`` would, each resumption (from ``next``/``send``/
    ``throw`` to its next ``yield`` or its end) timed as one step."""
    resume: Callable[[], Any] = functools.partial(gen.send, None)
    while True:
        sess = _begin(options)
        try:
            item = resume()
        except StopIteration as stop:
            if sess is not None:
                _end(sess)
            return stop.value
        except BaseException as e:
            if sess is not None:
                _end(sess, e)
            raise
        if sess is not None:
            _end(sess)
        try:
            sent = yield item
        except GeneratorExit:
            gen.close()
            raise
        except BaseException as e:  # thrown in by the consumer: for gen, at its resumption
            resume = functools.partial(gen.throw, e)
        else:
            resume = functools.partial(gen.send, sent)


class _Depth(threading.local):
    """Decorated calls open on this thread (0: none), and the recursion limit found when
    the outermost began."""

    calls = 0
    limit = 0


_depth = _Depth()


def _nested_call(step_fn: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """A decorated call inside another: part of the outer step, so the session is not told.
    The recursion limit grows by the two frames perfkit adds at each level (this one and
    the wrapper), before anything else runs, so a recursive step goes as deep as the plain
    function; the outermost call restores it."""
    _depth.calls += 1
    sys.setrecursionlimit(max(sys.getrecursionlimit(), _depth.limit + 2 * _depth.calls))
    try:
        return step_fn(*args, **kwargs)
    finally:
        _depth.calls -= 1


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
    step is one step from its call to its return, awaits included. A generator is one step
    per resumption: each ``next()`` runs one step, up to its next ``yield`` (or its end).
    A decorated call inside another (recursion) is part of the outer step, and may recurse
    as deep as the plain function could.
    """
    # Fail at decoration time on a misspelt option or a bad window, not at the first step.
    inspect.signature(Session).bind(**options)
    if "window" in options:
        WindowSpec.parse(options["window"])
    if "window_ranks" in options:
        WindowRanks.parse(options["window_ranks"])
    if options.get("out") is not None:  # from here, before the script changes directory
        options = {**options, "out": Path(options["out"]).absolute()}

    def decorate(step_fn: Callable[..., Any]) -> Callable[..., Any]:
        # Install probes now: DataLoaders are usually iterated before the first step runs.
        probes.acquire()

        if inspect.isasyncgenfunction(step_fn):
            raise TypeError(
                f"@profile_step cannot time the async generator {step_fn.__qualname__}: "
                "decorate the function that runs one step"
            )
        if inspect.isgeneratorfunction(step_fn):

            @functools.wraps(step_fn)
            def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                return (yield from _each_resumption_a_step(step_fn(*args, **kwargs), options))

            return generator_wrapper

        if inspect.iscoroutinefunction(step_fn):

            @functools.wraps(step_fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                sess = _begin(options)
                if sess is None:
                    return await step_fn(*args, **kwargs)
                try:
                    result = await step_fn(*args, **kwargs)
                except BaseException as e:
                    _end(sess, e)
                    raise
                _end(sess)
                return result

            return async_wrapper

        @functools.wraps(step_fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # Every training step runs through here: one frame, no calls it can do without.
            depth = _depth
            if depth.calls:  # inside a decorated step of this thread (recursion)
                return _nested_call(step_fn, args, kwargs)
            sess = _begin(options)
            if sess is None:
                return step_fn(*args, **kwargs)
            depth.calls, depth.limit = 1, sys.getrecursionlimit()
            try:
                result = step_fn(*args, **kwargs)
            except BaseException as e:
                _end(sess, e)
                raise
            finally:
                depth.calls = 0
                if sys.getrecursionlimit() != depth.limit:  # only a recursive step raised it
                    sys.setrecursionlimit(depth.limit)  # shallow again: lowering cannot fail
            _end(sess)
            return result

        return wrapper

    return decorate(fn) if fn is not None else decorate
