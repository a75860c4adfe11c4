"""Where output goes: results on stdout, logs, warnings and progress on stderr."""

from __future__ import annotations

import io
import os
import sys

from rich.console import Console

# stderr console for messages and progress; colour only when stderr is a terminal
err = Console(stderr=True, highlight=False, soft_wrap=True)

# --quiet, set by each command and put back by cli.main when the command ends
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
    """Write results to stdout (bytes-safe for non-UTF-8 paths); a reader that went away
    raises :class:`~cost_cli.errors.StdoutClosed`."""
    data = text.encode("utf-8", "surrogateescape")
    try:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    except BrokenPipeError:
        from .errors import StdoutClosed

        raise StdoutClosed() from None


def stdout_reader_gone() -> bool:
    """Whether stdout is a pipe or socket whose reader has closed it (``cost label | head -1``
    once head has its line): asked between batches, so a run whose results nobody reads stops
    at once instead of at its next write. False for files, terminals and unknown streams."""
    try:
        import select
        import stat

        fd = sys.stdout.fileno()
        if not (stat.S_ISFIFO(os.fstat(fd).st_mode) or stat.S_ISSOCK(os.fstat(fd).st_mode)):
            return False
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return False


class Progress:
    """The labeling progress on stderr (videos done of total, windows per second, time left,
    the current file); drawn only when ``enabled`` (a terminal, or --progress)."""

    def __init__(self, enabled: bool, total: int) -> None:
        import time

        self._clock = time.monotonic
        self.bar = None
        self.windows = 0
        self.t0 = self._clock()
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
            from rich.progress import Progress as Bar

            self.bar = Bar(TextColumn("[bold]labeling"), BarColumn(), MofNCompleteColumn(),
                           TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                           TextColumn("{task.fields[current]}"), console=err, transient=True)
            self.task = self.bar.add_task("label", total=total, rate="", current="")
            self.bar.start()

    @staticmethod
    def _name(path: str) -> str:
        return os.path.basename(path).encode("utf-8", "backslashreplace").decode()[-40:]

    def _rate(self) -> str:
        return f"{self.windows / max(1e-6, self._clock() - self.t0):.1f} win/s"

    def tick(self, windows: int, current: str) -> None:
        """Windows inferred (the rate and current file move while a long video is labeled)."""
        self.windows += windows
        if self.bar is not None:
            self.bar.update(self.task, rate=self._rate(), current=self._name(current))

    def update(self, done: int, current: str) -> None:
        """Videos committed so far."""
        if self.bar is not None:
            self.bar.update(self.task, completed=done, rate=self._rate(), current=self._name(current))

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()
