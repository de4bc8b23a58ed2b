"""``perfkit tensorboard``: TensorBoard on loopback, pointed at a run or a folder of runs."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import click

from perfkit.capture.signals import StopSignals
from perfkit.commands import InputError
from perfkit.escape import terminal_line
from perfkit.runfile import RUN_FILE_NAME, rank_files

NETWORK_NOTE = (
    "The Scalars dashboard works offline. The PyTorch Profiler tab (torch-tb-profiler) "
    "loads Google Charts and a polyfill from the internet when the page opens: without "
    "network access its views stay empty; `perfkit report RUN -o report.html` shows the "
    "same breakdown offline."
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@click.command(short_help="Open a run's traces and scalars in TensorBoard.")
@click.argument("path", type=click.Path())
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port on 127.0.0.1 (default: a free one).",
)
def tensorboard(path: str, port: int) -> int:
    """Start TensorBoard on 127.0.0.1 for PATH (a run directory or a folder of runs).

    perfkit writes each run's profiler traces and its per-step scalars (step time, data
    wait, syncs, transfers, memory) into the run directory, where TensorBoard finds them:
    each run is shown under its directory's name, each rank of a torchrun job as
    RUN/rank<R> in the Scalars dashboard (their curves overlay). Ctrl-C stops it.

    \b
    Example:  perfkit tensorboard perfkit-runs/
    """
    if not os.path.isdir(path):
        raise InputError(f"{path}: not a directory (give a run directory or a folder of runs)")
    missing = [
        m for m in ("tensorboard", "torch_tb_profiler") if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise InputError(
            f"{' and '.join(missing)} not installed: pip install 'perfkit[tensorboard]'"
        )
    port = port or free_port()
    with contextlib.ExitStack() as cleanup:
        return _serve(path, _logdir(Path(path), cleanup), port, cleanup.close)


def _serve(path: str, logdir: Path, port: int, cleanup: Callable[[], None]) -> int:
    cmd = [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        str(logdir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    where = f"{path} at http://127.0.0.1:{port}/"
    click.echo(terminal_line(f"perfkit: TensorBoard for {where} (Ctrl-C stops it)"))
    click.echo(f"perfkit: {NETWORK_NOTE}")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def stopped(_signal_name: str) -> None:
        """SIGTERM or SIGHUP: TensorBoard stops too, then the signal takes its course. It
        ends perfkit without unwinding, so the temporary link is removed here."""
        _stop(proc)
        cleanup()

    signals = StopSignals(stopped).install()
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        _stop(proc)
        click.echo("perfkit: TensorBoard stopped")
        return 0
    finally:
        signals.uninstall()
    if code:
        tail = (proc.stderr.read() if proc.stderr else "").strip().splitlines()[-1:]
        raise InputError(f"TensorBoard exited with code {code}: {' '.join(tail)}")
    return 0


def _logdir(path: Path, cleanup: contextlib.ExitStack) -> Path:
    """TensorBoard's ``--logdir`` for PATH.

    TensorBoard names a run after its folder relative to ``--logdir``: a folder of runs
    is given as it is (runs ``<run dir>``, ``<run dir>/rank0`` ...), but a run directory
    given as ``--logdir`` would be the run ``.`` in the Scalars dashboard. So a run
    directory is given through a temporary folder holding one link named after it
    (both plugins follow links, as TensorBoard's documentation suggests for arranging
    runs), removed by ``cleanup``; where no link can be made, the directory itself.
    """
    path = path.absolute()
    if not ((path / RUN_FILE_NAME).exists() or rank_files(path)):
        return path
    # Removing the folder removes the link, never what it leads to.
    folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="perfkit-tb-")))
    try:
        (folder / (path.resolve().name or "run")).symlink_to(path.resolve(), True)
    except OSError:  # no links here (Windows without the privilege)
        return path
    return folder


def _stop(proc: subprocess.Popen) -> None:
    """TensorBoard may take ~10 s over SIGTERM and holds nothing worth saving: it gets
    SIGINT, then SIGTERM, then SIGKILL, a second apart, so perfkit ends within seconds."""
    for stop in (lambda: proc.send_signal(signal.SIGINT), proc.terminate, proc.kill):
        stop()
        try:
            proc.wait(timeout=1)
            return
        except subprocess.TimeoutExpired:
            continue
