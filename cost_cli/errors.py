"""Domain exceptions and the one table that turns them into messages and exit codes.

Exit codes (documented in the README):
  0  success: every input labeled (or the command did what it was asked)
  1  the command ran but something failed: some inputs failed, a download or conversion failed
  2  usage or configuration error: bad options, unusable model, refusal to resume
  130 interrupted (Ctrl-C / SIGINT); 141 the reader of stdout went away (`cost label | head`,
      silently, as for SIGPIPE); 143 terminated (SIGTERM)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
EXIT_TERMINATED = 143


class CostError(Exception):
    """Base class: a message for the user (one line) and an optional hint."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(CostError):
    """Options that conflict or make no sense."""

    exit_code = EXIT_USAGE


class ConfigError(CostError):
    """A model, file or setting that cannot be used."""

    exit_code = EXIT_USAGE


class ModelNotFoundError(ConfigError):
    """A ``--model`` that names nothing we can find."""


class CheckpointError(CostError):
    """A checkpoint that cannot be read or does not match the architecture."""


class ResumeError(CostError):
    """An output that cannot be resumed safely (changed settings, no journal)."""

    exit_code = EXIT_USAGE


class OutputError(CostError):
    """The output cannot be written (read-only place, disk full)."""


class HubError(CostError):
    """A download from the Hugging Face Hub failed."""


class NotPublishedError(HubError):
    """A registry entry whose weights exist nowhere to download."""


class DataError(CostError):
    """Training data that cannot be used."""

    exit_code = EXIT_USAGE


class DecodeError(CostError):
    """One video could not be decoded; the run goes on.

    ``fallback``: another decoder may read this file (a missing codec, a frame one decoder
    could not convert), as opposed to damage that any decoder would only hide.
    """

    fallback = False


def describe(exc: BaseException) -> tuple[str, str | None, int]:
    """Map any exception to (one-line message, hint, exit code)."""
    if isinstance(exc, CostError):
        return exc.message, exc.hint, exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", None, EXIT_INTERRUPTED
    if isinstance(exc, MemoryError):
        return "out of memory", "try a smaller --batch-size or fewer --workers", EXIT_FAILED
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        return f"{exc.strerror or exc}{where}", None, EXIT_FAILED
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return (f"{type(exc).__name__}: {first}" if first else type(exc).__name__,
            "set COST_DEBUG=1 to see the traceback", EXIT_FAILED)


class Terminated(BaseException):
    """SIGTERM reached the CLI (exit 143)."""


class StdoutClosed(BaseException):
    """The reader of our results went away (`cost label | head`): the run stops at once, quietly,
    exit 141. A BaseException, like a signal, so that no per-video handler takes it for a
    failure of one video (and click never sees the BrokenPipeError it would turn into exit 1)."""


# Signals the CLI's handlers have seen. The handler raises at once; but Python drops an
# exception raised while a finaliser (``__del__``, a weakref callback) runs, so a Ctrl-C that
# lands there would be lost. Long loops call raise_if_signalled() to raise it again.
_signalled: list[type[BaseException]] = []
# Inside signals_deferred() the handler only remembers the signal; it is raised when the
# outermost such block ends (cost_cli/importguard.py: an import is never cut half-way).
_deferring = 0
_pending: list[type[BaseException]] = []


def on_signal(signum, frame) -> None:  # pragma: no cover - exercised in subprocess tests
    import signal

    exc = KeyboardInterrupt if signum == signal.SIGINT else Terminated
    _signalled.append(exc)
    if _deferring:
        _pending.append(exc)
        return
    raise exc()


class signals_deferred:
    """A block that the CLI's signal handlers do not interrupt: a signal that arrives inside
    it is raised when the outermost such block ends, in place of any ordinary exception the
    block raised (the user's Ctrl-C comes first). Main thread only: that is where Python runs
    signal handlers."""

    __slots__ = ()

    def __enter__(self) -> None:
        global _deferring
        _deferring += 1

    def __exit__(self, kind, value, tb) -> None:
        global _deferring
        _deferring -= 1
        if _deferring == 0 and _pending:
            exc = _pending[0]
            _pending.clear()
            if kind is None or issubclass(kind, Exception):
                raise exc()


def raise_if_signalled() -> None:
    """Raise the signal a handler saw (if any) again: for loops that may have lost it."""
    if _signalled:
        raise _signalled[0]()


def clear_signals() -> None:
    """Forget the signals seen so far (each CLI run starts clean)."""
    global _deferring
    _signalled.clear()
    _pending.clear()
    _deferring = 0
