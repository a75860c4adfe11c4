"""Finding videos: files, folders (walked), globs and paths read from stdin.

Paths are ``str`` throughout; names that are not valid UTF-8 carry their bytes as surrogate
escapes (``os.fsdecode``), so nothing is lost on the way to the decoder or the output.

Every video found has two names: ``path``, the spelling it was reached by (what rows show),
and ``ident``, its identity: the absolute path with every symbolic link resolved. The journal,
``--shard`` and ``cost merge`` key on the identity, so ``v/a.mp4``, ``./v/a.mp4``,
``/abs/v//a.mp4`` and the same file through a symlinked folder are one video.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Iterator, NamedTuple

from .environment import gc_paused

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".mpe", ".wmv", ".flv",
    ".3gp", ".3g2", ".ts", ".mts", ".m2ts", ".ogv", ".vob", ".asf", ".divx", ".f4v", ".mxf", ".y4m",
})
GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Problem:
    """An input that is not a video we can try (missing path, empty glob...)."""

    path: str
    reason: str


class Found(NamedTuple):
    """A video to label: as reached (``path``), its identity, and its size and mtime (a tuple:
    a million of them are made in seconds)."""

    path: str
    ident: str
    size: int | None = None
    mtime: float | None = None


def is_video_name(name: str) -> bool:
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in VIDEO_EXTENSIONS


def read_paths(stream: BinaryIO, null: bool) -> list[str]:
    """Paths from a byte stream: one per line (a trailing CR dropped), or NUL-separated
    (``find -print0``; the only way to pass a name that ends in CR or holds a newline)."""
    data = stream.read()
    sep = b"\0" if null else b"\n"
    out = []
    for part in data.split(sep):
        if not null:
            part = part.rstrip(b"\r")
        if part:
            out.append(os.fsdecode(part))
    return out


class Identities:
    """Identities of paths (absolute, symlinks resolved) with the folders' resolution cached,
    so a million files in a few folders cost one ``lstat`` each, not one per path component."""

    def __init__(self) -> None:
        self._dirs: dict[str, str] = {}

    def folder(self, d: str) -> str:
        """The resolved form of a folder path, as given (relative to the working directory)."""
        real = self._dirs.get(d)
        if real is None:
            real = self._dirs[d] = os.path.realpath(d or ".")
        return real

    def of(self, path: str, is_link: bool | None = None) -> str:
        """The identity of ``path``; ``is_link`` when the caller already knows (a scandir entry)."""
        head, tail = os.path.split(path)
        if tail in ("", ".", ".."):
            return os.path.realpath(path)
        candidate = os.path.join(self.folder(head), tail)
        if is_link is None:
            try:
                is_link = stat.S_ISLNK(os.lstat(candidate).st_mode)
            except OSError:
                is_link = False
        return os.path.realpath(candidate) if is_link else candidate


def identity(path: str) -> str:
    """The identity of one path: absolute, every symbolic link resolved (``os.path.realpath``)."""
    return os.path.realpath(path)


def _subdirs(d: str, on_error: Callable[[str, str], None] | None = None) -> list[os.DirEntry]:
    """Visible entries of ``d``, sorted by name; [] when it cannot be read, and then
    ``on_error(d, reason)`` is told why (a folder whose videos would otherwise be skipped in
    silence)."""
    try:
        with os.scandir(d or ".") as it:
            return sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as exc:
        if on_error is not None:
            on_error(d or ".", f"cannot read this folder ({_reason(exc)}): its videos are not labeled")
        return []


def _reason(exc: OSError) -> str:
    return (os.strerror(exc.errno) if exc.errno else str(exc)).lower()


def _is_dir(e: os.DirEntry) -> bool:
    try:
        return e.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _dir_key(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def walk(root: str, ids: Identities | None = None, seen: set | None = None,
         on_error: Callable[[str, str], None] | None = None) -> Iterator[tuple[str, str, bool]]:
    """Video files under ``root``: (path, identity, is_link). Sorted, hidden entries skipped,
    symbolic links followed; a folder reached twice (a loop, or two links to it) is walked once.
    A folder that cannot be read (or stat'ed) is reported to ``on_error(folder, reason)``."""
    ids = ids or Identities()
    seen = set() if seen is None else seen
    stack = [root]  # folders still to visit, the next one last
    realpath, exts = os.path.realpath, VIDEO_EXTENSIONS
    while stack:
        d = stack.pop()
        key = _dir_key(d)
        if key is None:
            if on_error is not None and os.path.lexists(d):  # gone since it was listed: nothing lost
                try:
                    os.stat(d)
                except OSError as exc:
                    on_error(d, f"cannot read this folder ({_reason(exc)}): its videos are not labeled")
            continue
        if key in seen:
            continue
        seen.add(key)
        real = ids.folder(d)
        prefix = real if real.endswith(os.sep) else real + os.sep  # ("/" itself ends in one)
        subdirs = []
        for e in _subdirs(d, on_error):
            name = e.name
            dot = name.rfind(".")
            is_video = dot > 0 and name[dot:].lower() in exts
            if e.is_dir(follow_symlinks=False) or (e.is_symlink() and _is_dir(e)):
                subdirs.append(e.path)
            elif is_video:
                link = e.is_symlink()  # broken links and FIFOs too: the decoder reports them
                yield e.path, (realpath(e.path) if link else prefix + name), link
        stack.extend(reversed(subdirs))  # depth first, in name order


def glob_paths(pattern: str, on_error: Callable[[str, str], None] | None = None) -> list[str]:
    """The paths a shell-style pattern matches (``*``, ``?``, ``[...]``, and ``**`` for any
    depth), sorted. Like :func:`glob.glob` with ``recursive=True`` (hidden names are matched only
    by a pattern that starts with a dot), but ``**`` walks symbolic-link loops once instead of
    forever, and a folder it cannot read is reported to ``on_error(folder, reason)``."""
    absolute = pattern.startswith(os.sep)
    parts = [p for p in pattern.split(os.sep) if p not in ("",)]
    found: set[str] = set()

    def join(cur: str, name: str) -> str:
        return os.path.join(cur, name) if cur else (os.sep + name if absolute else name)

    def all_dirs(cur: str) -> Iterator[str]:
        """``cur`` and every visible folder below it, each real folder once."""
        seen: set = set()

        def visit(d: str) -> Iterator[str]:
            key = _dir_key(d or ".")
            if key is None or key in seen:
                return
            seen.add(key)
            yield d
            for e in _subdirs(d, on_error):
                if _is_dir(e):
                    yield from visit(join(d, e.name))

        yield from visit(cur)

    def match(cur: str, i: int) -> None:
        if i == len(parts):
            if cur:
                found.add(cur)
            return
        part = parts[i]
        last = i == len(parts) - 1
        if part == "**":
            for d in all_dirs(cur):
                if last:
                    if d:
                        found.add(d)
                    for e in _subdirs(d):  # all_dirs() has reported an unreadable d already
                        found.add(join(d, e.name))
                else:
                    match(d, i + 1)
            return
        if not GLOB_CHARS & set(part):
            nxt = join(cur, part)
            if last:
                if os.path.lexists(nxt):
                    found.add(nxt)
            elif os.path.isdir(nxt):
                match(nxt, i + 1)
            return
        where = cur or (os.sep if absolute else ".")
        try:
            with os.scandir(where) as it:
                names = sorted(e.name for e in it)
        except OSError as exc:
            if on_error is not None:
                on_error(where, f"cannot read this folder ({_reason(exc)}): its videos are not labeled")
            return
        for name in names:
            if name.startswith(".") and not part.startswith("."):
                continue
            if fnmatch.fnmatchcase(name, part):
                nxt = join(cur, name)
                if last:
                    found.add(nxt)
                elif os.path.isdir(nxt):
                    match(nxt, i + 1)

    match("", 0) if parts else None
    return sorted(found)


def discover(args: Iterable[str], stdin: BinaryIO | None = None, null: bool = False
             ) -> tuple[list[Found], list[Problem]]:
    """Expand the command line's inputs into an ordered, duplicate-free list of videos.

    The same video reached twice (two spellings, a symbolic link, a hard link) is kept once, under
    the first spelling met (arguments in order, folders sorted). The cyclic garbage collector
    is paused meanwhile: a million found files form no cycles."""
    with gc_paused():
        return _discover(args, stdin, null)


def _discover(args: Iterable[str], stdin: BinaryIO | None, null: bool) -> tuple[list[Found], list[Problem]]:
    """Why one function of ~80 lines: the closures share the seen-sets, and ``add_all`` inlines
    ``add`` on purpose (the hot loop of a million-file folder; see benchmarks/journal_scale.py)."""
    videos: list[Found] = []
    problems: list[Problem] = []
    seen_inodes: set[tuple[int, int]] = set()
    seen_ids: set[str] = set()
    seen_dirs: set[tuple[int, int]] = set()  # folders walked once, whichever argument reaches them
    ids = Identities()
    unreadable: set[str] = set()

    def cannot_read(folder: str, reason: str) -> None:  # once per folder, whichever walk meets it
        if folder not in unreadable:
            unreadable.add(folder)
            problems.append(Problem(folder, reason))

    append, os_stat, is_reg = videos.append, os.stat, stat.S_ISREG

    def add(path: str, ident: str | None = None) -> None:
        ident = ident if ident is not None else ids.of(path)
        if ident in seen_ids:
            return
        try:
            st = os_stat(path)
        except OSError:
            st = None
        if st is not None and is_reg(st.st_mode):
            inode = (st.st_dev, st.st_ino)
            if inode in seen_inodes:
                return  # a hard link to a video already listed
            seen_inodes.add(inode)
        seen_ids.add(ident)
        if ident == path:
            ident = path  # one string when the spelling is the identity
        if st is None:
            append(Found(path, ident))
        else:
            append(Found(path, ident, st.st_size, round(st.st_mtime, 6)))

    def add_all(root: str) -> None:
        # the hot loop of a million-file folder: add() without a call per file
        for path, ident, _ in walk(root, ids, seen_dirs, cannot_read):
            if ident in seen_ids:
                continue
            try:
                st = os_stat(path)
            except OSError:
                add(path, ident)  # the rare case, the slow way
                continue
            if is_reg(st.st_mode):
                inode = (st.st_dev, st.st_ino)
                if inode in seen_inodes:
                    continue
                seen_inodes.add(inode)
            seen_ids.add(ident)
            append(Found(path, ident, st.st_size, round(st.st_mtime, 6)))

    def expand(arg: str) -> None:
        if os.path.isdir(arg):
            add_all(arg)
        elif os.path.lexists(arg):
            add(arg)  # an explicit file is tried whatever its extension
        elif GLOB_CHARS & set(arg):
            matches = glob_paths(arg, cannot_read)
            if not matches:
                problems.append(Problem(arg, "no file matches this pattern"))
            for m in matches:
                if os.path.isdir(m):
                    add_all(m)
                elif is_video_name(m):
                    add(m)
        else:
            try:
                os.lstat(arg)
                reason = "no such file or directory"
            except OSError as exc:  # a folder on the way that cannot be entered, a name too long...
                reason = _reason(exc)
            problems.append(Problem(arg, reason))

    for arg in args:
        if arg == "-":
            if stdin is None:
                problems.append(Problem("-", "no standard input"))
                continue
            for p in read_paths(stdin, null):
                expand(p)
        else:
            expand(arg)
    return videos, problems


def file_identity(path: str) -> tuple[int | None, float | None]:
    """(size, mtime) of a file, or (None, None) when it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except OSError:
        return None, None
    return st.st_size, round(st.st_mtime, 6)
