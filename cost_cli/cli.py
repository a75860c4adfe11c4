"""The ``cost`` command: a thin Typer shell over the library.

Commands live in ``cost_cli/commands/``; this module builds the app and turns every exception
into one line on stderr and a documented exit code (``COST_DEBUG=1`` shows tracebacks).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import traceback

import click
import typer

from . import __version__
from . import console
from .console import error
from .environment import debug_enabled, scoped_env
from .importguard import guarded_imports
from .errors import (EXIT_BROKEN_PIPE, EXIT_INTERRUPTED, EXIT_TERMINATED, EXIT_USAGE, StdoutClosed, Terminated,
                     clear_signals, describe, on_signal)

app = typer.Typer(
    name="cost",
    help="Label video with actions using CoST (Collaborative Spatiotemporal networks).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"cost-cli {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Label video with actions using CoST (Collaborative Spatiotemporal networks).

    Exit codes: 0 success, 1 some inputs or steps failed, 2 usage or configuration error,
    130 interrupted, 141 stdout's reader went away, 143 terminated. Set COST_DEBUG=1 to see
    tracebacks.
    """


COMMAND_MODULES = ("label", "features", "merge", "demo", "train", "convert", "info", "models", "visual", "eval")


def _register() -> None:
    """Add the commands to the app (once: the app keeps them)."""
    if app.registered_commands:
        return
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"{__package__}.commands.{name}").register(app)
    for command in app.registered_commands:
        command.callback = _pipe_safe(command.callback)


def _pipe_safe(callback):
    """A command whose stdout reader goes away stops with StdoutClosed: click would turn the
    BrokenPipeError into a silent exit 1 (and swap sys.stdout for a wrapper of its own)."""
    @functools.wraps(callback)
    def run(*args, **kwargs):
        try:
            return callback(*args, **kwargs)
        except BrokenPipeError:
            raise StdoutClosed() from None

    return run


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``cost`` console script and ``python -m cost_cli``.

    Exits with the command's status (``SystemExit``). What it changes for the run, its signal
    handlers, the remembered signals, the import guard and the quiet flag, is put back before
    it returns, so a program (or a test) may call it again in the same process, also after a
    Ctrl-C that landed while torch was being imported (see importguard.py)."""
    clear_signals()
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    code = 0
    try:
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)  # raises KeyboardInterrupt, and remembers it
        # torch's OpenMP threads spin while idle; next to decode workers on the same cores that
        # spinning took 35-40% of labeling throughput (BENCHMARKS.md). Set before torch loads.
        with scoped_env(OMP_WAIT_POLICY="PASSIVE"), guarded_imports():
            code = _run(argv, debug_enabled())
    finally:
        for sig, handler in saved.items():
            if handler is not None:
                signal.signal(sig, handler)
        clear_signals()
        console.set_quiet(False)
    sys.exit(code)


def _cli_exceptions() -> tuple[tuple, tuple, tuple]:
    """(exit, abort, usage) exception classes: click's, and the copies newer Typer releases
    carry of their own (Typer 0.2x vendors click as ``typer._click``; its usage errors are not
    click's, and were reported as exit 1 with a class name until both were caught)."""
    exits, aborts, usage = [click.exceptions.Exit], [click.exceptions.Abort], [click.exceptions.ClickException]
    exits.append(typer.Exit)
    aborts.append(typer.Abort)
    try:
        from typer._click import exceptions as vendored  # Typer >= 0.2x
    except ImportError:
        vendored = None
    if vendored is not None:
        usage.append(vendored.ClickException)
        for name, kinds in (("Exit", exits), ("Abort", aborts)):
            if hasattr(vendored, name):
                kinds.append(getattr(vendored, name))
    return tuple(set(exits)), tuple(set(aborts)), tuple(set(usage))


def _run(argv: list[str] | None, debug: bool) -> int:
    """Run one command; every exception becomes a message and an exit status."""
    exits, aborts, usage = _cli_exceptions()
    try:
        _register()
        rv = app(args=argv, prog_name="cost", standalone_mode=False)
        code = rv if isinstance(rv, int) else 0
        if code == EXIT_INTERRUPTED:  # Typer returns 130 for a Ctrl-C it caught itself
            error("interrupted; run the same command again to resume")
        return code
    except exits as exc:
        if exc.exit_code == EXIT_INTERRUPTED:  # Typer turns Ctrl-C into a silent Exit(130)
            error("interrupted; run the same command again to resume")
        return exc.exit_code
    except aborts:
        error("interrupted")
        return EXIT_INTERRUPTED
    except usage as exc:
        exc.show()
        return exc.exit_code if exc.exit_code else EXIT_USAGE
    except KeyboardInterrupt:
        error("interrupted; run the same command again to resume")
        return EXIT_INTERRUPTED
    except Terminated:
        error("terminated; run the same command again to resume")
        return EXIT_TERMINATED
    except (BrokenPipeError, StdoutClosed):
        # the reader of our stdout went away (`cost label ... | head`): stop quietly, with the
        # status a shell reports for a program SIGPIPE ended (128 + 13), as `yes | head` does
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass  # a stdout without a descriptor (a program's own stream): nothing to flush later
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - the one place that maps everything
        message, hint, code = describe(exc)
        if debug:
            traceback.print_exc()
        error(message, hint)
        return code
