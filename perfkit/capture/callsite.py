"""Find the user's line that caused an event, skipping perfkit's, torch's, the stdlib's and
installed libraries' frames (numpy, torchvision, Lightning, transformers ...): a finding
points at the line the user can change, the one that called into the library.

Call sites are interned: the hot path keeps ``(code object, line)`` pairs as dict keys and
the run file stores each distinct site once, so a sync counted a million times costs one
dict increment each time and one site entry in the file.
"""

from __future__ import annotations

import linecache
import os
import sys
import sysconfig
from types import CodeType, FrameType

import torch

from perfkit.runmodel import Site

_PERFKIT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
# The reference loop is user code as far as call sites go: it is what users would write.
_REFERENCE_DIR = _PERFKIT_DIR + "reference" + os.sep
_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__)) + os.sep
_STDLIB_DIRS = tuple(
    {os.path.abspath(sysconfig.get_paths()[k]) + os.sep for k in ("stdlib", "platstdlib")}
)

# Frame kinds, cached per code object (a dict lookup instead of string prefix tests).
USER, TORCH, PERFKIT, STDLIB, LIBRARY = 0, 1, 2, 3, 4
# Installed packages live under these folder names, whatever the environment manager.
_LIBRARY_PARTS = (os.sep + "site-packages" + os.sep, os.sep + "dist-packages" + os.sep)
_kind_by_code: dict[CodeType, int] = {}


def kind_of(code: CodeType) -> int:
    kind = _kind_by_code.get(code)
    if kind is None:
        name = code.co_filename
        if not os.path.isabs(name) and not name.startswith("<"):
            name = os.path.abspath(name)
        if name.startswith("<frozen "):  # the interpreter's own modules (runpy, importlib)
            kind = STDLIB
        elif name.startswith(_REFERENCE_DIR):
            kind = USER
        elif name.startswith(_PERFKIT_DIR):
            kind = PERFKIT
        elif name.startswith(_TORCH_DIR):
            kind = TORCH
        elif any(part in name for part in _LIBRARY_PARTS):
            kind = LIBRARY
        elif name.startswith(_STDLIB_DIRS):
            kind = STDLIB
        else:
            kind = USER
        _kind_by_code[code] = kind
    return kind


SiteKey = tuple  # (code object, line number)


def caller() -> tuple[int, FrameType | None]:
    """Who made the probed call (user code or torch internals), and where to attribute it.

    Returns the kind of the first frame outside perfkit and the first user frame from
    there up the stack (the line that called into torch or a library).
    """
    who, _, frame = calling_frames()
    return who, frame


def calling_frames() -> tuple[int, FrameType | None, FrameType | None]:
    """(kind of the first frame outside perfkit, that frame, the first user frame)."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and kind_of(frame.f_code) == PERFKIT:
        frame = frame.f_back
    if frame is None:
        return USER, None, None
    return kind_of(frame.f_code), frame, first_user_frame(frame)


_inside_by_code: dict[CodeType, str] = {}


def inside(code: CodeType) -> str:
    """A library frame's file as people name it: ``torch/optim/lbfgs.py``, ``numpy/...``."""
    name = _inside_by_code.get(code)
    if name is None:
        path = code.co_filename.replace(os.sep, "/")
        torch_root = os.path.dirname(_TORCH_DIR.rstrip(os.sep)).replace(os.sep, "/") + "/"
        if path.startswith(torch_root):  # torch wherever it is installed or built
            path = path[len(torch_root) :]
        for marker in ("/site-packages/", "/dist-packages/"):
            if marker in path:
                path = path.split(marker, 1)[1]
                break
        name = _inside_by_code[code] = path
    return name


def first_user_frame(frame: FrameType | None) -> FrameType | None:
    """This frame or the nearest caller of it that is user code."""
    while frame is not None and kind_of(frame.f_code) != USER:
        frame = frame.f_back
    return frame


def site_key(frame: FrameType | None) -> SiteKey:
    if frame is None:
        return (None, 0)
    return (frame.f_code, frame.f_lineno)


def describe_site(key: SiteKey) -> Site:
    """The run-file form of an interned site: file, line, function and the source line."""
    code, line = key
    if code is None:
        return Site()
    return Site(
        file=code.co_filename,
        line=line,
        function=code.co_name,
        code=linecache.getline(code.co_filename, line).strip(),
    )
