"""The run file as typed, frozen data: what capture writes and analysis reads.

One pair of functions crosses between the two: ``to_json`` (capture, when it writes) and
``Run.from_json`` (analysis, when it reads), both driven by the dataclasses below through
the generic codec (codec.py), so the writer and the reader cannot drift apart. Reading
validates every field on the way in: a malformed file is one error naming the field
(``steps[3].events.syncs.sites[0].count should be an integer, not str``), never a crash
later inside a rule. docs/run-format.md documents each field; keys a reader does not know
are ignored, so files of newer minor versions read.

This module imports neither torch nor anything from capture.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from perfkit.codec import FormatError, decode, omitted, to_json

__all__ = ["FormatError", "Run", "decode", "to_json"]  # and the record types below

SCHEMA_NAME = "perfkit.run"
SCHEMA_VERSION = 2  # 2: step_blocks (steps folded on long runs); 1 still reads
SCHEMA = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"

# -- call sites and events ------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """A user source line; records refer to it by its index in ``Run.sites``."""

    file: str = "<unknown>"
    line: int = 0
    function: str = ""
    code: str = ""


@dataclass(frozen=True)
class SiteCount:
    site: int
    count: int


@dataclass(frozen=True)
class SyncSite:
    site: int
    kind: str
    count: int


@dataclass(frozen=True)
class Syncs:
    count: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    sites: tuple[SyncSite, ...] = ()


@dataclass(frozen=True)
class TransferSite:
    site: int
    direction: str  # h2d, d2h, d2d or intent (a .to(device) that moved nothing)
    count: int
    bytes: int
    pinned: bool
    non_blocking: bool


@dataclass(frozen=True)
class Transfers:
    totals: dict[str, dict[str, int]] = field(default_factory=dict)
    sites: tuple[TransferSite, ...] = ()


@dataclass(frozen=True)
class Events:
    """Syncs, transfers and ``empty_cache`` calls of one interval (a step, or between)."""

    syncs: Syncs = Syncs()
    transfers: Transfers = Transfers()
    empty_cache: tuple[SiteCount, ...] = ()


@dataclass(frozen=True)
class OutsideSteps(Events):
    """Events between steps; ``gap_sync_sites``: per line, in how many gaps it synced (None
    in files written before perfkit recorded it)."""

    gap_sync_sites: tuple[SiteCount, ...] | None = omitted()


# -- steps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Memory:
    """CUDA allocator figures on a GPU, the process's RSS on a CPU."""

    allocated_bytes: int | None = omitted()
    reserved_bytes: int | None = omitted()
    peak_bytes: int | None = omitted()
    rss_bytes: int | None = omitted()

    @property
    def used_bytes(self) -> int | None:
        """Memory in use: allocated on the device, else the process's RSS."""
        return self.allocated_bytes if self.allocated_bytes is not None else self.rss_bytes

    @property
    def peak_or_rss_bytes(self) -> int | None:
        """The highest reading of the step: the allocator's peak, else the RSS."""
        return self.peak_bytes if self.peak_bytes is not None else self.rss_bytes


@dataclass(frozen=True)
class Step:
    wall_ms: float
    i: int = 0
    t: float = 0.0
    outside_ms: float = 0.0
    data_wait_ms: float = 0.0
    batches: int = 0
    memory: Memory | None = omitted()
    events: Events | None = omitted()
    phase: str = omitted("")  # probe, warmup or active: measurement cost, not timing
    error: str | None = omitted()

    @property
    def period_ms(self) -> float:
        """The step's share of the loop: its own time plus the gap before it."""
        return self.wall_ms + self.outside_ms


@dataclass(frozen=True)
class Spread:
    """One quantity over the steps of a block: exact sum, min and max, and its quantile
    sketch (sketch.py): ``zeros``, then ``counts[k]`` values in bucket ``buckets[k]``."""

    sum: float = 0.0
    min: float = 0.0
    max: float = 0.0
    zeros: int = 0
    buckets: tuple[int, ...] = ()
    counts: tuple[int, ...] = ()

    def sketch(self) -> dict[int, int]:
        return dict(zip(self.buckets, self.counts, strict=False))


@dataclass(frozen=True)
class StepBlock:
    """Consecutive steps of a long run folded into one record: every step from ``first`` to
    ``last`` not kept in ``steps`` (those are the first ones, the profiled and probed ones,
    the last ones), with exact totals and sketches, so rules still judge the whole run."""

    first: int
    last: int
    count: int
    t: float = 0.0  # when the block's first step started, seconds since the session started
    wall_ms: Spread = Spread()
    outside_ms: Spread = Spread()
    data_wait_ms: Spread = Spread()
    period_ms: Spread = Spread()
    batches: int = 0
    errors: int = 0  # steps that raised (the first ones are kept in ``steps``)
    memory: Memory | None = omitted()  # the block's last reading
    memory_peak_bytes: int | None = omitted()  # its highest (allocator peak, else RSS)
    events: Events | None = omitted()  # the block's syncs, transfers, empty_cache: totals


# -- configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class OptimizerConfig:
    type: str = ""
    foreach: bool | None = None
    fused: bool | None = None
    capturable: bool | None = None
    param_tensors: int = 0
    param_devices: tuple[str, ...] = ()
    lr: float | None = None
    steps: int = 0


@dataclass(frozen=True)
class ZeroGrad:
    set_to_none: int = 0
    fill_zero: int = 0
    fill_zero_sites: tuple[SiteCount, ...] = ()


@dataclass(frozen=True)
class LoaderConfig:
    dataset: str = ""
    num_workers: int | None = None
    pin_memory: bool = False
    persistent_workers: bool = False
    prefetch_factor: int | None = None
    batch_size: int | None = None
    drop_last: bool = False
    batch_sampler: str | None = None
    multiprocessing_context: str | None = None
    epochs: int = 0
    worker_spawns: int = 0
    steps_fed: int | None = omitted()  # steps whose last batch it gave (None: not recorded)
    site: int | None = omitted()


@dataclass(frozen=True)
class Config:
    optimizers: tuple[OptimizerConfig, ...] = ()
    zero_grad: ZeroGrad = ZeroGrad()
    autocast: dict[str, int] = field(default_factory=dict)
    grad_scaler: dict[str, int] = field(default_factory=dict)
    backends: dict[str, Any] = field(default_factory=dict)
    dataloaders: tuple[LoaderConfig, ...] = ()


# -- environment and capture ----------------------------------------------------------------


@dataclass(frozen=True)
class Device:
    type: str = "cpu"
    name: str = ""
    index: int | None = omitted()
    memory_bytes: int | None = omitted()
    capability: str | None = omitted()


@dataclass(frozen=True)
class Distributed:
    rank: int | None = omitted()
    world_size: int | None = omitted()
    local_rank: int | None = omitted()
    local_world_size: int | None = omitted()
    backend: str | None = omitted()


@dataclass(frozen=True)
class Env:
    host: str = ""
    pid: int | None = None
    argv: tuple[str, ...] = ()
    cwd: str = ""
    platform: str = ""
    cpu_count: int | None = None
    cpu_available: int | None = None
    cpu_model: str = ""
    python: str = ""
    torch: str | None = None
    cuda: str | None = None
    hip: str | None = None
    cudnn: int | None = None
    device: Device = Device()
    distributed: Distributed = Distributed()
    perfkit: str = ""
    start_time: str = ""
    end_time: str | None = omitted()
    error: str | None = omitted()  # "Type: message" when the session ended on an exception
    interrupted: str | None = omitted()  # the signal that stopped the process: SIGTERM


@dataclass(frozen=True)
class Capture:
    step_source: str | None = None
    step_marker: str = ""  # for decorator steps: @profile_step, Session.step(), a callback
    step_boundaries: dict[str, Any] = field(default_factory=dict)
    dropped_steps: int = 0
    accelerator: bool = False
    sync_semantics: str = ""
    window: tuple[int, ...] | None = None
    window_error: str = ""
    # For a rank of a job: which ranks record the window (window_ranks.py), and why this
    # one does not ("" when it does)
    window_ranks: str = omitted("")
    window_off: str = omitted("")
    sample_hz: float = 0.0
    graph_scan: bool = False
    probe_step: bool = False
    errors: tuple[str, ...] = ()
    tensorboard_scalars: dict[str, Any] = field(default_factory=dict)


# -- what the step watchers saw -------------------------------------------------------------


@dataclass(frozen=True)
class EvalForwards:
    forwards_with_grad: int = 0
    forwards_without_grad: int = 0
    modules_with_grad: dict[str, int] = field(default_factory=dict)
    sites: tuple[SiteCount, ...] = ()


@dataclass(frozen=True)
class Holder:
    """A running function's variable that keeps tensors or a graph alive."""

    name: str = ""
    file: str = ""
    function: str = ""
    line: int = 0
    code: str = ""
    through: str | None = omitted()  # the container type, when held inside one
    tensors: int | None = omitted()
    maxlen: int | None = omitted()  # for a bounded deque: where it stops growing
    items: int | None = omitted()


@dataclass(frozen=True)
class HeapScan:
    step: int
    tensors: int = 0
    tensor_bytes: int = 0
    grad_tensors: int = 0
    graph_nodes: int = 0
    largest_graph_nodes: int = 0
    largest_graph_root: str = ""
    node_ages: tuple[int, ...] | None = None  # [oldest, newest] autograd creation numbers
    largest_graph_holder: Holder | None = omitted()
    tensor_holders: tuple[Holder, ...] = ()
    cost_ms: float = 0.0
    final: bool = omitted(False)


@dataclass(frozen=True)
class HotLine:
    site: int
    visits: int
    calls: int
    modules: int = 0


@dataclass(frozen=True)
class TypeCount:
    type: str
    calls: int


@dataclass(frozen=True)
class DirectForward:
    site: int
    module: str
    count: int


@dataclass(frozen=True)
class Probe:
    step: int | None = None
    steps: tuple[int, ...] = ()
    torch_calls: int | None = None
    backward_ops: int | None = None
    optimizer_ops: int | None = None
    backward_calls: int = 0
    ops_skipped: str | None = None
    hot_lines: tuple[HotLine, ...] = ()
    root_modules: tuple[TypeCount, ...] = ()
    wrappers: tuple[TypeCount, ...] = ()
    direct_forward: tuple[DirectForward, ...] = ()
    host_read_sites: tuple[int, ...] = ()
    device_read_sites: tuple[int, ...] = ()


@dataclass(frozen=True)
class Samples:
    interval_s: float | None = None
    nvml: dict[str, Any] = field(default_factory=dict)
    series: dict[str, tuple[float | None, ...]] = field(default_factory=dict)

    def values(self, name: str) -> list[float]:
        """A series without its gaps (None where a counter could not be read)."""
        return [v for v in self.series.get(name, ()) if v is not None]


# -- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """A run file, typed. ``path`` is where it was read from (not part of the file)."""

    complete: bool
    env: Env
    config: Config
    steps: tuple[Step, ...]
    sites: tuple[Site, ...]
    schema: str = SCHEMA
    step_blocks: tuple[StepBlock, ...] = ()
    capture: Capture = Capture()
    outside_steps: OutsideSteps = OutsideSteps()
    eval_forwards: EvalForwards = EvalForwards()
    graph_scans: tuple[HeapScan, ...] = ()
    # None: no probe step ran (an empty object in the file).
    probe: Probe | None = field(default=None, metadata={"none_as_empty": True})
    samples: Samples = Samples()
    traces: tuple[str, ...] = ()
    path: str = field(default="<memory>", metadata={"not_in_file": True})

    @classmethod
    def from_json(cls, data: Any, path: str = "<memory>") -> Run:
        """Decode and check a run file's JSON; raises FormatError naming the field."""
        if not isinstance(data, dict):
            raise FormatError("not a perfkit run file (top level is not an object)")
        _check_schema(data.get("schema"))
        try:
            run = dataclasses.replace(decode(cls, data, ""), path=str(path))
        except FormatError as e:  # a bad step names its record: the most common damage
            step = _STEP_FIELD.search(str(e))
            if step is None:
                raise
            raise FormatError(f"step record {step[1]} is malformed: {e}") from None
        _check_site_indexes(run)
        return run

    def to_json(self) -> dict[str, Any]:
        return to_json(self)

    def location(self, index: int) -> Site:
        return self.sites[index]

    @property
    def step_count(self) -> int:
        """Every step of the run: those kept in ``steps`` and those folded into blocks."""
        return len(self.steps) + sum(b.count for b in self.step_blocks)


_STEP_FIELD = re.compile(r"'steps\[(\d+)\]")


def _check_schema(schema: Any) -> None:
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_NAME + "/"):
        raise FormatError(f"not a perfkit run file (schema is {schema!r})")
    version = schema.split("/", 1)[1]
    if not version.isdecimal():
        raise FormatError(f"unknown schema version {version!r}")
    if int(version) > SCHEMA_VERSION:
        raise FormatError(
            f"written by a newer perfkit (schema {schema}); this perfkit reads up to {SCHEMA}."
            " Upgrade perfkit to read it"
        )


def _check_site_indexes(run: Run) -> None:
    """Every reference to a call site must point into ``sites``."""
    n = len(run.sites)
    for where, index in _site_refs(run, ""):
        if not 0 <= index < n:
            raise FormatError(f"field {where!r} refers to site {index}; the file lists {n}")


_SITE_LISTS = {"host_read_sites", "device_read_sites"}


def _site_refs(value: Any, where: str):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            item = getattr(value, f.name)
            path = f"{where}.{f.name}" if where else f.name
            if f.name == "site" and isinstance(item, int):
                yield path, item
            elif f.name in _SITE_LISTS:
                yield from ((f"{path}[{i}]", s) for i, s in enumerate(item))
            elif f.name != "sites" or where:
                yield from _site_refs(item, path)
    elif isinstance(value, tuple):
        for i, item in enumerate(value):
            yield from _site_refs(item, f"{where}[{i}]")
