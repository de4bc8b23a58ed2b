"""The fields of a trace event that perfkit reads, decoded straight from JSON.

msgspec decodes a run of events into these structs and skips every other field (most of an
event's bytes: ids, shapes, flow links) without building a dict or a string for it: about
3x faster than a general parse into dicts. A field of an unexpected type (a name that is a
number, ``"args": 5``) fails the typed decode; the piece is then decoded as plain JSON and
each event made sane by :func:`sane`, so odd files read as they always have: a field of the
wrong type counts as absent.
"""

from __future__ import annotations

from typing import Any

import msgspec


class Args(msgspec.Struct, gc=False):
    call_stack: Any = msgspec.field(default=None, name="Call stack")  # of a scalar read
    bytes: Any = None  # of a copy
    name: Any = None  # of a thread, in a "thread_name" metadata event


class Event(msgspec.Struct, gc=False):
    """gc=False: millions are made, none holds a cycle, and tracking them costs ~10%."""

    ph: str = ""
    cat: str = ""
    name: str | None = None
    ts: float | None = None  # JSON integers become floats here
    dur: float | None = None
    pid: int | str | None = None
    tid: int | str | None = None
    args: Args | None = None


_TYPED = msgspec.json.Decoder(list[Event])
_PLAIN = msgspec.json.Decoder()
_NOTHING = Event()  # what an event that is not an object (1, "x", []) counts as


def decode(text: bytes | memoryview) -> list[Event]:
    """The events of a JSON array. Raises ValueError (msgspec.DecodeError, or
    UnicodeDecodeError) for text that is not valid JSON, RecursionError for deep nesting."""
    try:
        return _TYPED.decode(text)
    except msgspec.ValidationError:
        return [sane(value) for value in _PLAIN.decode(text)]


def sane(value: Any) -> Event:
    """An event already decoded (a dict), with each field of the wrong type left out."""
    if not isinstance(value, dict):
        return _NOTHING
    get = value.get
    ph, cat, name, pid, tid, args = (get(k) for k in ("ph", "cat", "name", "pid", "tid", "args"))
    return Event(
        ph=ph if isinstance(ph, str) else "",
        cat=cat if isinstance(cat, str) else "",
        name=name if isinstance(name, str) else None,
        ts=_number(get("ts")),
        dur=_number(get("dur")),
        pid=pid if isinstance(pid, (int, str)) else None,
        tid=tid if isinstance(tid, (int, str)) else None,
        args=(
            Args(args.get("Call stack"), args.get("bytes"), args.get("name"))
            if isinstance(args, dict)
            else None
        ),
    )


def _number(value: Any) -> float | None:
    """A JSON number as a float (true counts as 1, as Python's int), None if it is none or
    too large for a float."""
    if not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None
