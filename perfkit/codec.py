"""Frozen dataclasses to and from JSON, checking every field on the way in.

``decode(cls, data, where)`` builds a ``cls`` from decoded JSON, following the dataclass's
field types (str, int, float, bool, ``X | None``, ``tuple[X, ...]``, ``dict[str, X]``,
nested dataclasses, ``Any``); the first field of the wrong shape raises ``FormatError``
with its path (``steps[3].events.syncs.count``). Unknown keys are ignored, missing ones
take their defaults. ``to_json`` is the inverse. The run file (runmodel.py) is its user.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import field
from typing import Any, TypeVar, Union

# Field metadata: leave the key out of the file while the field holds its default (the format
# says "omitted optional keys mean nothing recorded").
OMIT_DEFAULT = {"omit_default": True}


def omitted(default: Any = None) -> Any:
    return field(default=default, metadata=OMIT_DEFAULT)


class RunFormatError(ValueError):
    """A field of a decoded run file with the wrong shape; the message names the field."""


class FormatError(ValueError):
    """Decoded JSON whose shape does not match the dataclass; the message names the field."""


T = TypeVar("T")


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The field types of a dataclass, resolved once."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def decode(cls: type[T], data: Any, where: str) -> T:
    """``data`` (decoded JSON) as a ``cls``; FormatError names the first bad field."""
    if not isinstance(data, dict):
        raise FormatError(f"{_name(where)} should be an object, not {_kind(data)}")
    hints = _hints(cls)
    values = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.metadata.get("not_in_file"):
            continue
        path = f"{where}.{f.name}" if where else f.name
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise FormatError(f"missing field {path!r}")
            continue
        values[f.name] = _value(hints[f.name], data[f.name], path)
    return cls(**values)


def _value(hint: Any, data: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if data is None and type(None) in options:
            return None
        real = [o for o in options if o is not type(None)]
        if len(real) == 1:
            if data == {} and dataclasses.is_dataclass(real[0]):
                return None  # an empty object: nothing recorded
            return _value(real[0], data, where)
        for option in real:  # float | None is one option; others try each in turn
            try:
                return _value(option, data, where)
            except FormatError:
                continue
        raise FormatError(f"{_name(where)} has an unexpected {_kind(data)}")
    if origin is tuple:
        if not isinstance(data, list):
            raise FormatError(f"{_name(where)} should be a list, not {_kind(data)}")
        item = typing.get_args(hint)[0]
        if _plain_numbers(item, data):  # a long series: checked in C, not one call a value
            return tuple(data)
        return tuple(_value(item, x, f"{where}[{i}]") for i, x in enumerate(data))
    if origin is dict:
        if not isinstance(data, dict):
            raise FormatError(f"{_name(where)} should be an object, not {_kind(data)}")
        item = typing.get_args(hint)[1]
        return {str(k): _value(item, v, f"{where}.{k}") for k, v in data.items()}
    if hint is Any:
        return data
    if dataclasses.is_dataclass(hint):
        return decode(hint, data, where)  # type: ignore[arg-type]
    return _scalar(hint, data, where)


def _plain_numbers(item: Any, data: list[Any]) -> bool:
    """Whether every value of ``data`` already is what ``_scalar`` would make of it for a
    list of ``item``: ints for int, finite ints or floats for float. Anything else takes the
    slow path, which names the first bad value."""
    if item is int:
        return all(type(x) is int for x in data)
    if item is float:
        kinds = set(map(type, data))
        return kinds <= {int, float} and all(map(math.isfinite, data))
    return False


def _scalar(hint: type, data: Any, where: str) -> Any:
    if hint is bool:
        if isinstance(data, bool):
            return data
    elif hint is int:
        if isinstance(data, int) and not isinstance(data, bool):
            return data
        if isinstance(data, float) and data.is_integer():
            return int(data)
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            raise FormatError(f"{_name(where)} should be an integer, not {data!r}")
    elif hint is float:
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            if not math.isfinite(data):
                raise FormatError(f"{_name(where)} should be a finite number, not {data!r}")
            return data  # an int stays an int: byte counts in a series are written back as such
    elif hint is str:
        if isinstance(data, str):
            return data
    else:  # pragma: no cover - a field type this codec does not know is a bug here
        raise TypeError(f"no decoder for {hint!r}")
    wanted = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    raise FormatError(f"{_name(where)} should be {wanted[hint]}, not {_kind(data)}")


def _name(where: str) -> str:
    return f"field {where!r}" if where else "the run file"


def _kind(data: Any) -> str:
    names = {dict: "an object", list: "a list", type(None): "null"}
    return names.get(type(data), type(data).__name__)


def to_json(value: Any) -> Any:
    """The JSON form of run-file data: the inverse of ``decode``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            if f.metadata.get("not_in_file"):
                continue
            if f.metadata.get("omit_default") and item == f.default:
                continue
            if item is None and f.metadata.get("none_as_empty"):
                out[f.name] = {}
                continue
            out[f.name] = to_json(item)
        return out
    if isinstance(value, (tuple, list)):
        return [to_json(x) for x in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value
