"""The files beside an output: one writer at a time (the lock), the temporaries a killed run
leaves behind, and opening any of them only when it is a regular file.

An output is known by its real file: a symbolic link as the last part of ``--out`` is followed
(:func:`real_output`), so every spelling of one file (``out.csv``, ``./out.csv``, a link to it)
shares one journal, one lock and one set of temporaries beside it.

The lock (:class:`OutputLock`) is taken by every command that writes an output (``cost label``,
``cost merge``), for the whole write. It is two ``flock`` locks: one on ``OUT.cost-lock``, which
holds the writer's pid and command (named when another writer is refused) and stays put while
the output is replaced or recreated; and one on the output file itself while it exists, so
that another name of the same file (a hard link) is refused too. The lock file is removed by
the run that holds it when it ends; a killed run's lock dies with it. ``OUT.tmp-PID`` files
(a JSON document or a journal being written when the run was killed) are removed by the next
writer, which holds the lock and so knows their writer is gone.

Nothing beside an output is opened unless it is a regular file (:func:`open_regular`): a FIFO,
a device (a link to ``/dev/zero``), a socket or a folder where the journal, the lock or a
temporary should be is refused with one line naming it, before any byte is read, so a run
never waits on a FIFO nor reads without end.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from .errors import OutputError

LOCK_SUFFIX = ".cost-lock"


def real_output(out: str | os.PathLike) -> str:
    """The output's own name: ``out`` itself, or, when its last part is a symbolic link, the
    file the link leads to (the folders on the way need no resolving: every path to a folder
    reaches the same folder, so the names beside the output are the same files already)."""
    name = os.fspath(out)
    if os.path.islink(name):
        return os.path.realpath(name)
    return name


def lock_path(out: str | os.PathLike) -> Path:
    return Path(real_output(out) + LOCK_SUFFIX)


# -- regular files only --------------------------------------------------------------------

def _what(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def not_regular(path: str | os.PathLike, mode: int, error: type = OutputError):
    """The one-line refusal of a path that is not a regular file."""
    return error(f"{os.fspath(path)}: {_what(mode)}, not a regular file; refusing to use it",
                 hint="move it away, or choose another --out")


def open_regular(path: str | os.PathLike, flags: int = os.O_RDONLY, error: type = OutputError,
                 follow: bool = True) -> int:
    """A descriptor of ``path`` only if it is a regular file (``follow``: symbolic links are
    followed; else a link is refused too); anything else raises ``error`` naming it. Opening
    never waits (``O_NONBLOCK``: a FIFO is found out, not waited on) and a device is never
    opened at all (checked first, then again on the descriptor, for a file swapped in between).
    ``OSError`` of the opening itself (missing, permission) is the caller's to word."""
    p = os.fspath(path)
    if not follow:
        flags |= os.O_NOFOLLOW
    try:
        st = os.stat(p) if follow else os.lstat(p)
    except FileNotFoundError:
        if not flags & os.O_CREAT:
            raise
    else:
        if not stat.S_ISREG(st.st_mode):
            raise not_regular(p, st.st_mode, error)
    try:
        fd = os.open(p, flags | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        swapped = {errno.EISDIR: stat.S_IFDIR, errno.ENXIO: stat.S_IFIFO, errno.ELOOP: stat.S_IFLNK}
        if exc.errno in swapped:  # a folder, a FIFO or a link put there after the check
            raise not_regular(p, swapped[exc.errno], error) from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise not_regular(p, mode, error)
    return fd


def read_regular(path: str | os.PathLike, error: type = OutputError) -> bytes:
    """The bytes of a regular file (see :func:`open_regular`), as long as it was when opened."""
    fd = open_regular(path, os.O_RDONLY, error)
    try:
        size = os.fstat(fd).st_size
        parts, got = [], 0
        while got < size:
            chunk = os.read(fd, min(size - got, 1 << 24))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)
    finally:
        os.close(fd)


# -- temporaries of killed runs --------------------------------------------------------------

_TMP = re.compile(r"\.tmp-\d+$")


def remove_stale_temporaries(out: str | os.PathLike) -> list[Path]:
    """Delete ``OUT.tmp-PID`` files left by killed runs (call while holding the output's lock).
    Only regular files are removed: a FIFO, a link or a folder of that name is none of ours."""
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
                if stat.S_ISREG(os.lstat(parent / name).st_mode):
                    os.unlink(parent / name)
                    removed.append(parent / name)
            except OSError:
                pass
    return removed


# -- the lock ----------------------------------------------------------------------------------

def _flock_holder(st: os.stat_result) -> int | None:
    """The pid holding a ``flock`` on the file ``st`` describes, from /proc/locks (Linux)."""
    key = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", "rb") as f:
            text = f.read(4 << 20).decode("ascii", "replace")
    except OSError:
        return None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == key and fields[4].isdigit():
            return int(fields[4])
    return None


class OutputLock:
    """One writer at a time per output file (see the module's docstring). ``command`` names the
    writer (``label``, ``merge``) in another writer's refusal. Release it with :meth:`release`
    or use it as a context manager."""

    def __init__(self, out: str | os.PathLike, command: str = "label") -> None:
        self.out = Path(out)  # as given: messages name it so
        self.real = real_output(out)
        self.path = lock_path(out)
        self.command = command
        self._f: int | None = None  # the lock file's descriptor
        self._held: dict[tuple[int, int], int] = {}  # (device, inode) -> descriptor of the output
        try:
            self._lock_file()
            self.hold_output()
        except BaseException:
            self.release()
            raise

    def _refusal(self, pid: int | None, who: str, how: str = "") -> OutputError:
        shown = f" (pid {pid})" if pid else ""
        return OutputError(f"{self.out}: another {who} run is writing it{how}{shown}",
                           hint="wait for it to finish, or choose another --out")

    def _lock_file(self) -> None:
        import fcntl

        for _ in range(100):
            try:
                fd = open_regular(self.path, os.O_RDWR | os.O_CREAT, follow=False)
            except PermissionError:
                raise OutputError(f"{self.out}: permission denied (read-only location?)") from None
            except OSError as exc:
                raise OutputError(f"{self.out}: cannot write beside it ({exc.strerror})") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                pid, who = self._holder(fd)
                os.close(fd)
                raise self._refusal(pid, who) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except OSError:
                same = False
            if same:
                self._f = fd
                try:
                    os.ftruncate(fd, 0)
                    os.pwrite(fd, f"{os.getpid()} {self.command}\n".encode("ascii"), 0)
                except OSError:
                    pass  # a full disk: the lock holds all the same, only the refusal names no pid
                return
            os.close(fd)  # the holder removed the file between our open and our lock: try again
        raise OutputError(f"{self.out}: cannot take the lock {self.path.name}")

    def _holder(self, fd: int) -> tuple[int | None, str]:
        """(pid, "cost COMMAND") of the run holding the lock file open on ``fd``."""
        try:
            words = os.pread(fd, 64, 0).decode("ascii", "replace").split()
        except OSError:
            words = []
        if len(words) >= 2 and words[0].isdigit() and words[1].isidentifier():
            return int(words[0]), f"cost {words[1]}"
        return _flock_holder(os.fstat(fd)), "cost"  # it has not written its name yet

    def hold_output(self) -> None:
        """Lock the output file itself, if it exists (call again once it is created): a second
        name of the same file (a hard link) is then refused as another writer of it."""
        import fcntl

        try:
            st = os.stat(self.real)
        except OSError:
            return
        if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) in self._held:
            return  # (what is not a regular file is refused by the writer, naming it)
        try:
            fd = open_regular(self.real, os.O_RDONLY)
        except OSError:
            return  # unreadable, or gone: the writer's own opening says why
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise self._refusal(_flock_holder(st), "cost", " under another name") from None
        self._held[(st.st_dev, st.st_ino)] = fd

    def release(self) -> None:
        """Remove the lock file, then let go of the locks."""
        for fd in self._held.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._held.clear()
        if self._f is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        try:
            os.close(self._f)
        except OSError:
            pass
        self._f = None

    def __enter__(self) -> OutputLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
