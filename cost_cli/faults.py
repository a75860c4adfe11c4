"""Test-only fault injection, behind one clearly named environment variable.

``COST_FAULT_INJECT`` is a comma-separated list of ``KIND=ARG`` items; with it unset (always,
outside tests) every function here returns at once. Kinds:

* ``crash=SUBSTR``, ``abort=SUBSTR``, ``hang=SUBSTR``: a decode worker handed a path holding
  SUBSTR segfaults, aborts or hangs (until its supervisor is gone); ``stuck=SUBSTR``: it
  sleeps for good, looking at nothing (a decoder stuck inside a C call); ``vanish=SUBSTR``: the file is deleted just before the
  worker opens it (:func:`decoder`);
* ``stall=POINT``: the labeling process sleeps at a named point of its work until it is killed
  (:func:`stall`), so a test can SIGKILL it at that exact instant, or hold it there while it
  holds its output's lock. Points: ``journal-created`` (a new journal exists, the output's
  header not yet written), ``json-rebuild`` (the JSON document written beside the output, not
  yet renamed over it), ``merge-written`` (``cost merge``: the merged file and its journal
  written beside ``--out``, not yet renamed into place);
* ``refuse=BACKEND:SUBSTR``: the decoder BACKEND (``opencv`` or ``decord``) cannot open a path
  holding SUBSTR, as when its FFmpeg lacks the codec (:func:`refused`), so the fallback between
  decoders is tested whatever decoder builds the machine has;
* ``slow-start=SECONDS``: a decode worker process sleeps while it is still starting (Python's
  own start-up, before the worker's code runs: :func:`worker_bootstrap`), as a loaded machine
  makes it, so a test can signal it in that state;
* ``kill-once=STAGE:SUBSTR:MARKER``: a Ray worker SIGKILLs itself once (:func:`ray_kill_once`),
  STAGE ``decode`` (after it sent windows of a video whose path holds SUBSTR) or ``model`` (on its
  first batch); the MARKER file is created first so that the restarted worker carries on.
"""

from __future__ import annotations

import os
import signal
import time

ENV = "COST_FAULT_INJECT"


def _items() -> list[tuple[str, str]]:
    spec = os.environ.get(ENV, "")
    return [(k, v) for k, _, v in (item.partition("=") for item in spec.split(",") if item)]


def decoder(path: str) -> None:
    """In a decode worker, before decoding ``path``: misbehave as asked."""
    for kind, pattern in _items():
        if pattern and pattern in path:
            if kind == "crash":
                os.kill(os.getpid(), signal.SIGSEGV)
            elif kind == "abort":
                os.abort()
            elif kind == "vanish":
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            elif kind == "stuck":
                while True:
                    time.sleep(3600)
            elif kind == "hang":
                parent = os.getppid()
                while os.getppid() == parent:  # an orphaned worker ends with its supervisor
                    time.sleep(0.5)
                os._exit(0)


def stall(point: str) -> None:
    """Sleep forever at ``point`` when asked (the test kills the process there)."""
    if any(kind == "stall" and arg == point for kind, arg in _items()):
        while True:
            time.sleep(3600)


def refused(backend: str, path: str) -> bool:
    """Whether ``refuse=BACKEND:SUBSTR`` says ``backend`` cannot open ``path``."""
    for kind, arg in _items():
        if kind == "refuse":
            want, _, pattern = arg.partition(":")
            if want == backend and pattern and pattern in path:
                return True
    return False


def worker_bootstrap() -> None:
    """While a decode worker's process is being set up (its modules unpickled): sleep as asked."""
    for kind, arg in _items():
        if kind == "slow-start":
            time.sleep(float(arg))


def ray_kill_once(stage: str, path: str | None) -> None:
    """In a Ray worker: SIGKILL this process once, as ``kill-once=STAGE:SUBSTR:MARKER`` asks."""
    for kind, arg in _items():
        if kind != "kill-once":
            continue
        want, pattern, marker = arg.split(":", 2)
        if want == stage and (path is None or pattern in path):
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return
            os.close(fd)
            os.kill(os.getpid(), signal.SIGKILL)
