"""``perfkit run``: profile an unmodified training script."""

from __future__ import annotations

import importlib.util
import os
import runpy
import sys
import traceback
import types

import click

from perfkit.commands import InputError, capture_options
from perfkit.commands.summary import print_summary


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    short_help="Profile an unmodified training script.",
)
@capture_options
@click.option(
    "-m", "module", metavar="MODULE", help="Run library module MODULE as a script (python -m)."
)
@click.argument("script", required=False, type=click.Path(dir_okay=False))
@click.argument("script_args", nargs=-1, type=click.UNPROCESSED)
def run(out, window, window_ranks, sample_hz, force, module, script, script_args) -> int:
    """Run SCRIPT (or -m MODULE) with its arguments under perfkit and write a run directory.

    Steps are found without any code change: optimizer.step() calls, or backward()
    calls when there is no optimizer, or DataLoader batches when there is neither. A
    function decorated with @profile_step takes precedence. Options after SCRIPT go to
    the script.

    \b
    Example:  perfkit run -o runs/exp1 train.py --epochs 1
              perfkit run -m mypkg.train --epochs 1
    """
    if module is not None:
        script_args = (script, *script_args) if script is not None else script_args
        script_path = _module_path(module)
        argv0, path0 = script_path, os.getcwd()  # what python -m gives the module
    elif script is None:
        raise InputError("no script given: perfkit run [OPTIONS] SCRIPT [ARGS]... or -m MODULE")
    else:
        if not os.path.isfile(script):
            raise InputError(f"{script}: no such file")
        if not os.access(script, os.R_OK):
            raise InputError(f"{script}: permission denied")
        script_path = os.path.abspath(script)
        argv0, path0 = script, os.path.dirname(script_path)
    from perfkit.capture.rundir import default_run_dir
    from perfkit.config import load_config

    load_config()  # a bad [tool.perfkit] is exit 2 now, not a surprise after training
    from perfkit.capture.session import Session

    session = Session(
        out or default_run_dir(module.rpartition(".")[2] if module else script),  # not "perfkit"
        window=window,
        window_ranks=window_ranks,
        sample_hz=sample_hz,
        auto_steps=True,
        force=force,
        quiet=True,
    )
    saved_argv, saved_path0, saved_cwd = sys.argv, sys.path[0], os.getcwd()
    sys.argv = [argv0, *script_args]
    sys.path[0] = path0
    parent = os.getpid()
    session.start()
    code = 0
    try:
        if module is not None:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            _run_as_main(script_path)
    except SystemExit as e:
        code = _exit_code(e)
        session.close()
    except KeyboardInterrupt as e:
        session.close(error=e)
        code = 130
    except BaseException as e:
        session.close(error=e)
        _print_user_traceback(e, script_path)
        code = 1
    else:
        session.close()
    finally:
        sys.argv, sys.path[0] = saved_argv, saved_path0
        os.chdir(saved_cwd)  # the summary's paths are the user's, if the script moved
    if os.getpid() == parent:  # a child the script forked ends quietly, as it would alone
        print_summary(session.run_dir, session.writer.failure, session.step_count)
    return code


def _module_path(module: str) -> str:
    """The file ``python -m MODULE`` would run (a package's ``__main__``), found from here."""
    sys.path.insert(0, os.getcwd())
    try:
        spec = importlib.util.find_spec(module)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(f"{module}.__main__")
    except (ImportError, ValueError) as e:
        raise InputError(f"-m {module}: {e}") from None
    finally:
        sys.path.pop(0)
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        raise InputError(f"-m {module}: no such module (from {os.getcwd()})")
    return spec.origin


def _run_as_main(script_path: str) -> None:
    """Run the script as ``python SCRIPT`` does: as ``__main__``, ``__file__`` absolute,
    ``sys.argv[0]`` as typed (``runpy.run_path`` would make it the absolute path)."""
    with open(script_path, "rb") as f:
        code = compile(f.read(), script_path, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    main.__dict__.update(
        __file__=script_path, __cached__=None, __loader__=None, __package__=None, __spec__=None
    )
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = main
    try:
        exec(code, main.__dict__)
    finally:
        sys.modules["__main__"] = saved


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    print(e.code, file=sys.stderr)
    return 1


def _print_user_traceback(e: BaseException, script_path: str) -> None:
    """The script's traceback from its own frames down, without perfkit's and runpy's."""
    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script_path:
        tb = tb.tb_next
    traceback.print_exception(type(e), e, tb or e.__traceback__)
