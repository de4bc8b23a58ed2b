"""Read a trace's events in batches, so memory does not grow with the file.

A Kineto trace is one JSON object whose ``traceEvents`` array holds nearly all of its bytes.
Parsing it whole builds a Python object per event (several GB for a 1 GB trace). Instead the
file is read in chunks; each chunk is cut after the last ``}`` ``,`` ``{`` it holds and the
events before the cut are decoded in one call (into the few fields perfkit reads, see
:mod:`perfkit.trace.events`). A cut inside a string or a nested object always leaves
unbalanced JSON, so the parser itself proves every cut: a piece that parses is a run of
whole events. A file this cannot follow (an unusual layout, or invalid JSON) raises
:class:`NotStreamable`; the caller then reads it whole the ordinary way, which also gives
the precise error for a broken file.
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Callable, Iterator
from typing import IO, Any

import msgspec

from perfkit import gunzip, jsonio
from perfkit.jsonio import JsonFileError, open_error, open_regular
from perfkit.trace import events as trace_events

# A chunk's events, decoded, are ~3x its size in Python objects while they are folded in.
# Small chunks stay in the CPU's caches: decoding runs ~590 MB/s at 256 KiB, ~340 MB/s at
# 4 MiB; below 128 KiB the fixed cost per batch wins.
CHUNK_BYTES = 256 << 10
# Give up streaming when this much text holds no event boundary (one enormous event).
MAX_PENDING_BYTES = 256 << 20
# Candidate cuts tried per chunk before reading on; a wrong one is a '},{' inside a string.
MAX_CUT_ATTEMPTS = 4
# '{' looked at per chunk in search of a cut, so that text made of braces (a name of a
# million '{') costs a bounded scan per chunk, not one per brace: time stays linear.
MAX_BRACES_SCANNED = 4096
# Ends of the event array tried from the end of the file (each parses the tail once).
MAX_END_ATTEMPTS = 8
# A gzipped trace may inflate to this many times its size (real ones: 7-30x) or to
# jsonio.MAX_WHOLE_READ_BYTES (--max-read), whichever is more; past that it is a gzip bomb.
MAX_GZIP_RATIO = 100
_EVENTS_KEY = re.compile(rb'"traceEvents"\s*:\s*\[')
# How far back a new search for the key starts: a key cut between two chunks is found.
_KEY_SPAN = 256
_WHITESPACE = b" \t\r\n"
_COMMA, _CLOSE, _OPEN, _END = (ord(c) for c in ",}[]")


# Told, before each chunk, of the file, its bytes read so far and its size: the command
# line's progress bar (perfkit.progress) listens while it reads.
observers: list[Callable[[str, int, int], None]] = []


class NotStreamable(Exception):
    """This file cannot be streamed; read it whole instead."""


class TraceStream:
    """Batches of decoded events; ``header`` (the other top-level keys) is complete once the
    batches are exhausted, since keys may follow the event array."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self.header: dict[str, Any] = {}

    def batches(self) -> Iterator[list[Any]]:
        with _open(self.path) as f:
            chunks = self._chunks(f)
            start, is_object = self._start(chunks)
            # The array's '[' and the events not yet decoded, appended to and decoded in
            # place: each chunk is copied once, and a long event costs no copies.
            buffer = bytearray(b"[" + start)
            # After a search for a cut fails, the next waits until the text has doubled: a
            # long event (a name of a million '},{') is searched O(log n) times, not per chunk.
            retry_at = 0
            while True:
                events = _take_events(buffer) if len(buffer) >= retry_at else None
                if events is not None:
                    retry_at = 0
                    yield events
                else:
                    if len(buffer) > MAX_PENDING_BYTES:
                        raise NotStreamable("no event boundary in a long stretch")
                    retry_at = max(retry_at, 2 * len(buffer))
                chunk = next(chunks, None)
                if chunk is None:
                    break
                buffer += chunk
            yield self._finish(bytes(buffer[1:]), is_object)

    def _chunks(self, f: IO[bytes]) -> Iterator[bytes]:
        limit = _inflation_limit(f)
        read = 0
        raw: Any = f.fileobj if isinstance(f, gzip.GzipFile) else f  # the bytes on disk
        size = os.fstat(raw.fileno()).st_size
        while True:
            for observer in observers:
                observer(str(self.path), raw.tell(), size)
            try:
                chunk = f.read(CHUNK_BYTES)
            except gunzip.ERRORS + (OSError,) as e:
                raise JsonFileError(self.path, f"corrupt or truncated gzip ({e})") from None
            if not chunk:
                return
            read += len(chunk)
            if read > limit:
                raise JsonFileError(
                    self.path,
                    f"decompresses to more than {jsonio.size_text(limit)}, over {MAX_GZIP_RATIO}x "
                    "its size: not a trace (raise the limit with --max-read GIB)",
                )
            yield chunk

    def _start(self, chunks: Iterator[bytes]) -> tuple[bytes, bool]:
        """Consume text up to the opening '[' of the events; parse the keys before it."""
        buffer = bytearray()
        for chunk in chunks:
            if not buffer:
                chunk = chunk.lstrip(_WHITESPACE)  # leading whitespace is never kept
                if not chunk:
                    raise NotStreamable("a chunk of whitespace first")  # read whole: refused
                if chunk[:1] == b"[":
                    return chunk[1:], False
                if chunk[:1] != b"{":
                    raise NotStreamable("not a JSON object or array")
            searched = len(buffer)
            buffer += chunk
            # In the new text only (and a key's length before it): linear in the header.
            match = _EVENTS_KEY.search(buffer, max(0, searched - _KEY_SPAN))
            if match:
                self.header = _loads(bytes(buffer[: match.start()]) + b'"traceEvents": null}')
                del self.header["traceEvents"]
                return bytes(buffer[match.end() :]), True
            if len(buffer) > MAX_PENDING_BYTES:
                break
        raise NotStreamable("no 'traceEvents' array near the start")

    def _finish(self, tail: bytes, is_object: bool) -> list[Any]:
        """The last events and what follows the array: try the last few ']' from the end,
        the small trailer first, so a wrong ']' costs little and a file of a million ']'
        is given up on (read whole, it fails as invalid JSON) instead of parsed a million
        times."""
        end = len(tail)
        for _ in range(MAX_END_ATTEMPTS):
            end = tail.rfind(b"]", 0, end)
            if end < 0:
                break
            rest = tail[end + 1 :]
            try:
                trailer = _loads(b'{"":0' + rest) if is_object else _loads(b"0" + rest)
                events = _decode(b"[" + tail[:end] + b"]")
            except NotStreamable:
                continue
            if is_object:
                del trailer[""]
                self.header.update(trailer)
            return events
        raise NotStreamable("the event array does not end")


def _open(path: str | os.PathLike[str]) -> IO[bytes]:
    f = open_regular(path)
    try:
        magic = f.peek(2)[:2]  # type: ignore[attr-defined]
    except OSError as e:
        f.close()
        raise open_error(path, e) from None
    if magic == gunzip.MAGIC:
        return gunzip.gunzipped(f)  # type: ignore[return-value]
    return f


def _inflation_limit(f: IO[bytes]) -> float:
    """How much text a gzipped file may give before it counts as a bomb (no limit if plain)."""
    if not isinstance(f, gzip.GzipFile) or f.fileobj is None:
        return float("inf")
    compressed = os.fstat(f.fileobj.fileno()).st_size
    return max(jsonio.MAX_WHOLE_READ_BYTES, MAX_GZIP_RATIO * compressed)


def _take_events(buffer: bytearray) -> list[Any] | None:
    """The whole events after the '[' that starts ``buffer``, cut at the last ``},{``; they
    are taken out of ``buffer``, which keeps its '[' and the rest."""
    end = len(buffer)
    attempts = scanned = 0
    while attempts < MAX_CUT_ATTEMPTS and (brace := buffer.rfind(b"{", 0, end)) > 1:
        scanned += 1
        if scanned > MAX_BRACES_SCANNED:
            return None  # read on: a cut comes after this run of braces
        end = brace
        comma = _previous_token(buffer, brace)
        if buffer[comma] != _COMMA:
            continue
        close = _previous_token(buffer, comma)
        if buffer[close] != _CLOSE:
            continue
        attempts += 1
        # Decoded in place: for the call, the byte after the '}' is the array's ']'.
        after, buffer[close + 1] = buffer[close + 1], _END
        try:
            with memoryview(buffer) as view, view[: close + 2] as events_text:
                events = _decode(events_text)
        except NotStreamable:
            continue
        finally:
            buffer[close + 1] = after
        buffer[brace - 1] = _OPEN
        del buffer[: brace - 1]  # from the front of a bytearray: no copy
        return events
    return None


def _previous_token(buffer: bytes | bytearray, i: int) -> int:
    """Index of the last non-whitespace byte before ``i`` (-1 if none)."""
    i -= 1
    while i >= 0 and buffer[i] in _WHITESPACE:
        i -= 1
    return i


def _decode(events_text: bytes | memoryview) -> list[Any]:
    try:
        return trace_events.decode(events_text)
    except (ValueError, RecursionError) as e:
        raise NotStreamable(str(e)) from None


def _loads(text: bytes) -> Any:
    try:
        return msgspec.json.decode(text)
    except (ValueError, RecursionError) as e:
        raise NotStreamable(str(e)) from None
