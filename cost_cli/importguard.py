"""Imports that a signal never cuts half-way.

An ``import torch`` interrupted by Ctrl-C cannot be retried in the same process: Python drops
the half-made ``torch`` from ``sys.modules``, but the C++ side of it (pybind11's type table,
the operator registry) is global and stays, so the next ``import torch`` registers everything
a second time and dies ("generic_type: cannot initialize type "GradBucket": an object with that
name is already defined", then ``std::terminate``), or fails with another error of the same
cause. numpy, OpenCV and other native packages have the same one-shot initialisation.

While :func:`guarded_imports` is active (``cli.main`` holds it for a run), every first import
made on the main thread runs inside :class:`errors.signals_deferred`: a Ctrl-C or SIGTERM that
arrives during it is raised the moment the outermost import finishes, so the process stays
usable (a program may call ``cli.main`` again) and the CLI still exits 130 or 143 with its one
line. Imports already done, relative imports and other threads' imports pass straight through.
"""

from __future__ import annotations

import builtins
import contextlib
import sys
import threading
from collections.abc import Iterator

from .errors import signals_deferred


@contextlib.contextmanager
def guarded_imports() -> Iterator[None]:
    """Inside the block, no first import on the main thread is interrupted by a signal."""
    original = builtins.__import__
    main = threading.main_thread()
    modules = sys.modules

    def _import(name, globals=None, locals=None, fromlist=(), level=0):
        if level or threading.current_thread() is not main:
            return original(name, globals, locals, fromlist, level)
        module = modules.get(name)
        # done already: the module, and each name of a `from m import a, b` (looked up in its
        # __dict__: hasattr would run a lazy module __getattr__, an import of its own)
        if module is not None and (not fromlist or all(n == "*" or n in module.__dict__ for n in fromlist)):
            return original(name, globals, locals, fromlist, level)
        with signals_deferred():
            return original(name, globals, locals, fromlist, level)

    builtins.__import__ = _import
    try:
        yield
    finally:
        if builtins.__import__ is _import:
            builtins.__import__ = original
