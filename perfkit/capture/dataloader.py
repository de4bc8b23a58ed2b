"""Probes for DataLoaders: the wait for each batch, and how each loader is configured.

The wait is measured around ``_BaseDataLoaderIter.__next__`` itself, not inferred from the
gap between steps. Loader settings and worker spawns are kept in a registry that exists
as soon as probes are installed (at decoration time), because the loader's first iterator
is usually created before the first step starts the session.
"""

from __future__ import annotations

import functools
import sys
import time
import weakref
from typing import Any

from torch.utils.data import DataLoader
from torch.utils.data import dataloader as _dl

from perfkit.capture import guard, state
from perfkit.capture.callsite import SiteKey, first_user_frame, site_key
from perfkit.capture.patching import Patches
from perfkit.capture.records import SiteTable
from perfkit.runmodel import LoaderConfig


class LoaderInfo:
    """What one DataLoader looked like and did; outlives the loader itself."""

    __slots__ = ("dataset", "settings", "epochs", "worker_spawns", "site", "__weakref__")

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self.site: SiteKey | None = None  # the user's line that built the loader
        self.settings: dict[str, Any] = {}
        self.epochs = 0  # calls to iter(loader)
        self.worker_spawns = 0  # times a fresh set of worker processes was started

    def record(self, sites: SiteTable, steps_fed: int) -> LoaderConfig:
        """``steps_fed``: the session's steps it gave batches to (Session.loaders)."""
        return LoaderConfig(
            dataset=self.dataset,
            **self.settings,
            epochs=self.epochs,
            worker_spawns=self.worker_spawns,
            steps_fed=steps_fed,
            site=sites.index(self.site) if self.site is not None else None,
        )


_loaders: weakref.WeakKeyDictionary[DataLoader, LoaderInfo] = weakref.WeakKeyDictionary()
# The iterator's attribute that points back at its loader's record.
_INFO_ATTR = "_perfkit_loader_info"


def _info(loader: DataLoader) -> LoaderInfo:
    info = _loaders.get(loader)
    if info is None:
        info = _loaders[loader] = LoaderInfo(type(loader.dataset).__name__)
    return info


def _settings(loader: DataLoader) -> dict[str, Any]:
    sampler = getattr(loader, "batch_sampler", None)
    return {
        "num_workers": loader.num_workers,
        "pin_memory": bool(loader.pin_memory),
        "persistent_workers": bool(getattr(loader, "persistent_workers", False)),
        "prefetch_factor": getattr(loader, "prefetch_factor", None),
        "batch_size": loader.batch_size,
        "drop_last": bool(loader.drop_last),
        "batch_sampler": type(sampler).__name__ if sampler is not None else None,
        "multiprocessing_context": str(loader.multiprocessing_context or "") or None,
    }


def _probe_init(original):
    """Where the loader is built: the line a DataLoader finding points at."""

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        try:
            info = _info(self)
            if info.site is None:
                # A subclass's __init__ calling ours is not where the loader is built.
                frame = sys._getframe(1)
                while frame.f_code.co_name == "__init__" and frame.f_locals.get("self") is self:
                    frame = frame.f_back
                info.site = site_key(first_user_frame(frame))
        except Exception as e:  # a loader perfkit cannot describe still trains
            guard.internal_error("the DataLoader probe", e)

    return __init__


def _probe_iter(original):
    @functools.wraps(original)
    def __iter__(self):
        info = _info(self)
        info.settings = _settings(self)
        info.epochs += 1
        iterator = original(self)
        try:
            setattr(iterator, _INFO_ATTR, info)
        except AttributeError:
            pass  # an iterator with __slots__: its batches are timed, not attributed
        return iterator

    return __iter__


def _probe_worker_start(original):
    @functools.wraps(original)
    def __init__(self, loader, *args, **kwargs):
        _info(loader).worker_spawns += 1
        return original(self, loader, *args, **kwargs)

    return __init__


def _probe_next(original):
    @functools.wraps(original)
    def __next__(self):
        sess = state.session
        if sess is None:
            return original(self)
        t0 = time.perf_counter()
        guard.call("the DataLoader probe", sess.on_batch_start, t0)
        state.fetching += 1
        try:
            batch = original(self)
        except StopIteration:
            guard.call(
                "the DataLoader probe", sess.recorder.on_batch_end, t0, time.perf_counter(), False
            )
            raise
        finally:
            state.fetching -= 1
        guard.call(
            "the DataLoader probe", sess.recorder.on_batch_end, t0, time.perf_counter(), True
        )
        info = getattr(self, _INFO_ATTR, None)
        if info is not None:
            sess.loaders.setdefault(info, 0)
            sess.fetched_from.add(info)
        return batch

    return __next__


def install(patches: Patches) -> None:
    patches.wrap(DataLoader, "__init__", _probe_init)
    patches.wrap(DataLoader, "__iter__", _probe_iter)
    patches.wrap(_dl._MultiProcessingDataLoaderIter, "__init__", _probe_worker_start)
    patches.wrap(_dl._BaseDataLoaderIter, "__next__", _probe_next)
