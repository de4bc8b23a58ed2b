"""What differs between the setups of two inputs: a speedup measured across another script,
preset, device or batch size is not only the speedup of a change to the code.

Compared where both inputs record it: the script (the file name of ``argv[0]``; ``perfkit
reference`` for the reference loop) and the reference loop's preset, the device, the world
size, the DataLoaders (how many; dataset, batch size and workers of each) and the optimizer
types. A trace records only the device and the world size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath

from perfkit.evidence import Evidence

_LOADER_FIELDS = ("dataset", "batch_size", "num_workers")
# How argv[0] reads for `perfkit reference` and `python -m perfkit reference`.
_PERFKIT = ("perfkit", "__main__.py")


def differences(base: Evidence, new: Evidence) -> tuple[str, ...]:
    """One line per setting the two record differently: ``"preset: cnn -> iris"``."""
    before, after = _setup(base), _setup(new)
    return tuple(
        f"{name}: {value} -> {after[name]}"
        for name, value in before.items()
        if name in after and after[name] != value
    )


def _setup(ev: Evidence) -> dict[str, str]:
    """The settings a unit records, as text; one it does not record is absent."""
    out: dict[str, str] = {}
    if ev.run is not None:
        env, config = ev.run.env, ev.run.config
        if env.argv:
            out["script"] = _script(env.argv)
        preset = _preset(env.argv)
        if preset:
            out["preset"] = preset
        if env.device.name:
            out["device"] = env.device.name
        out["world size"] = str(env.distributed.world_size or 1)
        out["DataLoaders"] = str(len(config.dataloaders))
        for name in _LOADER_FIELDS:
            if config.dataloaders:
                values = (getattr(loader, name) for loader in config.dataloaders)
                out[f"DataLoader {name}"] = ", ".join(map(str, values))
        types = [o.type.rsplit(".", 1)[-1] for o in config.optimizers]
        out["optimizers"] = ", ".join(types) or "none"
    elif ev.trace is not None:
        if ev.trace.device.get("name"):
            out["device"] = str(ev.trace.device["name"])
        out["world size"] = str(ev.trace.distributed.get("world_size") or 1)
    return out


def _is_reference(argv: Sequence[str]) -> bool:
    """``perfkit reference ...`` or ``python -m perfkit reference ...``."""
    return len(argv) > 1 and argv[1] == "reference" and PurePath(argv[0]).name in _PERFKIT


def _script(argv: Sequence[str]) -> str:
    return "perfkit reference" if _is_reference(argv) else PurePath(argv[0]).name


def _preset(argv: Sequence[str]) -> str | None:
    """The reference loop's preset, as given on its command line."""
    if not _is_reference(argv):
        return None
    for i, arg in enumerate(argv):
        if arg == "--preset" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--preset="):
            return arg.split("=", 1)[1]
    return "iris"  # `perfkit reference`'s default
