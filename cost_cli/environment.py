"""The process environment a run reads and the changes it makes to it, in one place.

Every change is scoped: :func:`scoped_env` sets variables for the duration of a ``with`` block
(what a child process started inside it inherits) and puts the old values back after, so a
program that calls the library twice sees its environment as it left it.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator


def debug_enabled() -> bool:
    """``COST_DEBUG=1``: show tracebacks and the decoders' and Ray's own diagnostics."""
    return os.environ.get("COST_DEBUG", "") not in ("", "0")


@contextlib.contextmanager
def scoped_env(override: bool = False, **values: str) -> Iterator[None]:
    """Set environment variables inside the block (only where unset, unless ``override``), then
    restore them."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if override or k not in os.environ:
                os.environ[k] = v
        yield
    finally:
        for k, old in saved.items():
            if old is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = old


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector inside the block, then restore it.

    For bulk allocation of many small objects that form no cycles (a million found files or
    journal records): the collector would rescan the growing heap again and again, a quarter
    of the time of discovering or reading a million (benchmarks/journal_scale.py)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null inside the block (unless ``COST_DEBUG=1``): decoders
    print their own diagnostics there ("[ WARN:0@0.012] global cap.cpp ..."), and the user gets
    the reason as one line of ours instead. Python's ``sys.stderr`` is flushed first."""
    import sys

    if debug_enabled():
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
