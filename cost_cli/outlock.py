"""One run at a time per output, and the temporaries a killed run leaves behind.

``OUT.cost-lock`` beside an output is held (``flock``) by the run writing it and removed when
that run ends; ``OUT.tmp-PID`` files (a JSON document or a journal being written when the run
was killed) are removed by the next run, which holds the lock and so knows their writer is gone.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import OutputError

LOCK_SUFFIX = ".cost-lock"


def lock_path(out: str | os.PathLike) -> Path:
    return Path(os.fspath(out) + LOCK_SUFFIX)


_TMP = re.compile(r"\.tmp-\d+$")


def remove_stale_temporaries(out: str | os.PathLike) -> list[Path]:
    """Delete ``OUT.tmp-PID`` files left by killed runs (call while holding the output's lock)."""
    p = Path(out)
    parent = p.parent if str(p.parent) else Path(".")
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    prefix = p.name + ".tmp-"
    for name in names:
        if name.startswith(prefix) and _TMP.search(name):
            try:
                os.unlink(parent / name)
                removed.append(parent / name)
            except OSError:
                pass
    return removed


class OutputLock:
    """One run at a time per output: an exclusive ``flock`` on ``OUT.cost-lock``, removed by the
    run that holds it when it ends (after checking the file it locked is still the one named
    there, so two runs can never hold locks on two different files of that name)."""

    def __init__(self, out: str | os.PathLike) -> None:
        import fcntl

        self.path = lock_path(out)
        self.out = Path(out)
        for _ in range(100):
            try:
                f = open(self.path, "a+b")
            except PermissionError:
                raise OutputError(f"{self.out}: permission denied (read-only location?)") from None
            except OSError as exc:
                raise OutputError(f"{self.out}: cannot write beside it ({exc.strerror})") from None
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                raise OutputError(f"{self.out}: another cost label run is writing it",
                                  hint="wait for it to finish, or choose another --out") from None
            try:
                same = os.fstat(f.fileno()).st_ino == os.stat(self.path).st_ino
            except OSError:
                same = False
            if same:
                self._f = f
                return
            f.close()  # the holder removed the file between our open and our lock: try again
        raise OutputError(f"{self.out}: cannot take the lock {self.path.name}")

    def release(self) -> None:
        """Remove the lock file, then let go of the lock."""
        if self._f is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        try:
            self._f.close()
        except OSError:
            pass
        self._f = None
