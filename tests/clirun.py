"""Run ``cost`` inside the test process: the command line, exit status, stdout and stderr bytes
of ``python -m cost_cli ARGS``, without a new interpreter importing torch (about 2 s a call on
2 cores, most of the suite's time when every test started one).

``cost_cli.cli.main`` puts back what it changes for a run (signal handlers, the quiet flag,
environment variables), so calls follow one another in one process; `test_inprocess_runs_leave_
nothing_behind` (tests/test_meta.py) checks that. Tests that need a process of their own keep
``subprocess``: signals and kills, peak memory, real standard streams (``/dev/stdout``, FIFOs,
pipes), Hugging Face's environment (read when ``huggingface_hub`` is imported), the installed
entry points.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

# paths that reach the process's real file descriptors: a fake sys.stdout cannot stand in
_REAL_STREAMS = ("/dev/stdout", "/dev/stderr", "/dev/fd/", "/proc/self/fd/")


class _Stream(io.TextIOWrapper):
    """A text stream over bytes, like a redirected standard stream (never a terminal)."""

    def __init__(self, data: bytes = b"") -> None:
        super().__init__(io.BytesIO(data), encoding="utf-8", errors="surrogateescape", write_through=True)

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:  # as for a pipe we do not have
        raise io.UnsupportedOperation("fileno")


@contextlib.contextmanager
def _environ(env: dict | None):
    if env is None:
        yield
        return
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_cost(*args, env: dict | None = None, cwd: str | os.PathLike | None = None, input: bytes | str | None = None,
             text: bool = False, timeout: float | None = None) -> subprocess.CompletedProcess:
    """``subprocess.run([python, -m, cost_cli, *args], capture_output=True, ...)``, in this process.

    ``env`` replaces the environment for the call, ``cwd`` the working directory, ``input`` is
    stdin (empty, as ``/dev/null``, by default); ``text`` decodes stdout and stderr (and encodes
    ``input``) as UTF-8. ``timeout`` is left to pytest-timeout."""
    from cost_cli import cli

    argv = [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args]
    if any(a.startswith(_REAL_STREAMS) for a in argv):
        raise ValueError(f"{argv}: a real stream needs a process of its own (use subprocess)")
    if isinstance(input, str):
        input = input.encode()
    out, err, inp = _Stream(), _Stream(), _Stream(input or b"")
    old = os.getcwd()
    streams = sys.stdin, sys.stdout, sys.stderr
    code = 0
    with _environ(env):
        try:
            if cwd is not None:
                os.chdir(cwd)
            sys.stdin, sys.stdout, sys.stderr = inp, out, err
            cli.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            sys.stdin, sys.stdout, sys.stderr = streams
            os.chdir(old)
    stdout, stderr = out.buffer.getvalue(), err.buffer.getvalue()
    if text:
        stdout, stderr = stdout.decode(), stderr.decode()
    return subprocess.CompletedProcess([sys.executable, "-m", "cost_cli", *argv], code, stdout, stderr)


def cost_command(*args, env=None, cwd=None, input=None, text=False, timeout=300) -> subprocess.CompletedProcess:
    """The same in a process of its own (``python -m cost_cli``)."""
    return subprocess.run([sys.executable, "-m", "cost_cli", *map(str, args)], capture_output=True,
                          env=env, cwd=cwd, input=input, text=text, timeout=timeout)


def in_process_enabled() -> bool:
    """``COST_TEST_SUBPROCESS=1`` runs every call in a process of its own (slower; to compare)."""
    return os.environ.get("COST_TEST_SUBPROCESS", "") in ("", "0")


def cost(*args, env=None, cwd=None, input=None, text=False, timeout=300) -> subprocess.CompletedProcess:
    """Run ``cost ARGS``: in this process unless asked for a process of its own."""
    if in_process_enabled():
        return run_cost(*args, env=env, cwd=cwd, input=input, text=text)
    return cost_command(*args, env=env, cwd=cwd, input=input, text=text, timeout=timeout)


__all__ = ["cost", "cost_command", "run_cost", "in_process_enabled"]
