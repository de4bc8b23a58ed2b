"""The fields of a trace event that perfkit reads, decoded straight from JSON.

msgspec decodes a run of events into these structs and skips every other field (most of an
event's bytes: ids, shapes, flow links) without building a dict or a string for it: about
3x faster than a general parse into dicts. The phase ("ph") picks the struct: only
complete and metadata events carry fields. A field of an unexpected type (a name that is a
number, ``"args": 5``) or an unknown phase fails the typed decode; the piece is then decoded
as plain JSON and each event made sane by :func:`sane`, so odd files read as they always
have: a field of the wrong type counts as absent.
"""

from __future__ import annotations

from typing import Any, Union

import msgspec


class Args(msgspec.Struct, gc=False):
    call_stack: Any = msgspec.field(default=None, name="Call stack")  # of a scalar read
    bytes: Any = None  # of a copy
    name: Any = None  # of a thread, in a "thread_name" metadata event


class Event(msgspec.Struct, tag_field="ph", tag="X", gc=False):
    """A complete event ("ph": "X"): a CPU op, a runtime call, a kernel, a copy ...
    gc=False: millions are made, none holds a cycle, and tracking them costs ~10%."""

    cat: str = ""
    name: str | None = None
    ts: float | None = None  # JSON integers become floats here
    dur: float | None = None
    pid: int | str | None = None
    tid: int | str | None = None
    args: Args | None = None


class Metadata(Event, tag="M"):
    """A metadata event ("ph": "M"), such as a thread's name."""


# The other phases of the Chrome trace format (flows, instants, counters ...) decode to
# empty structs, their fields skipped unread: a Kineto trace decodes ~25% faster.
_OTHERS = tuple(
    msgspec.defstruct(f"Phase{i}", [], tag_field="ph", tag=ph, gc=False)
    for i, ph in enumerate("BEIiCbneSTpFstfPONDRc()")
)
ANY_EVENT: Any = Union[(Event, Metadata) + _OTHERS]  # what decode gives: built at run time
_TYPED = msgspec.json.Decoder(list[ANY_EVENT])
_PLAIN = msgspec.json.Decoder()
_NOTHING = _OTHERS[0]()  # what an event perfkit does not read counts as


def decode(text: bytes | memoryview) -> list[Any]:
    """The events of a JSON array: Event, Metadata, or others that perfkit does not read.
    Raises ValueError (msgspec.DecodeError, or UnicodeDecodeError) for text that is not
    valid JSON, RecursionError for deep nesting."""
    try:
        return _TYPED.decode(text)
    except msgspec.ValidationError:
        return [sane(value) for value in _PLAIN.decode(text)]


def sane(value: Any) -> Any:
    """An event already decoded (a dict), with each field of the wrong type left out."""
    ph = value.get("ph") if isinstance(value, dict) else None
    if ph not in ("X", "M"):
        return _NOTHING
    get = value.get
    cat, name, pid, tid, args = (get(k) for k in ("cat", "name", "pid", "tid", "args"))
    return (Event if ph == "X" else Metadata)(
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
