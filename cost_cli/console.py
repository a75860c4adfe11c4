"""Where output goes: results on stdout, logs, warnings and progress on stderr."""

from __future__ import annotations

import os
import sys

from rich.console import Console

# stderr console for messages and progress; colour only when stderr is a terminal
err = Console(stderr=True, highlight=False, soft_wrap=True)

_quiet = False


def set_quiet(value: bool) -> None:
    global _quiet
    _quiet = value


def is_quiet() -> bool:
    return _quiet


def _plain(text: str) -> str:
    # paths may hold surrogate escapes (non-UTF-8 names): show them as \xNN, never crash
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def info(message: str) -> None:
    """A log line on stderr (silenced by --quiet)."""
    if not _quiet:
        err.print(_plain(message), markup=False)


def warn(message: str) -> None:
    """A warning on stderr (silenced by --quiet)."""
    if not _quiet:
        err.print(f"[yellow]warning:[/yellow] {escape(_plain(message))}")


def error(message: str, hint: str | None = None) -> None:
    """An error on stderr: one line, plus a hint line when there is one. Never silenced."""
    err.print(f"[red]error:[/red] {escape(_plain(message))}")
    if hint:
        err.print(f"[dim]hint:[/dim] {escape(_plain(hint))}")


def escape(text: str) -> str:
    from rich.markup import escape as _escape

    return _escape(text)


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def stdout_write(text: str) -> None:
    """Write results to stdout (bytes-safe for non-UTF-8 paths)."""
    data = text.encode("utf-8", "surrogateescape")
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
