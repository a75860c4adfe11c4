"""Finding videos: files, folders (walked), globs and paths read from stdin.

Paths are ``str`` throughout; names that are not valid UTF-8 carry their bytes as surrogate
escapes (``os.fsdecode``), so nothing is lost on the way to the decoder or the output.
"""

from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass
from typing import BinaryIO, Iterable

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".mpe", ".wmv", ".flv",
    ".3gp", ".3g2", ".ts", ".mts", ".m2ts", ".ogv", ".vob", ".asf", ".divx", ".f4v", ".mxf", ".y4m",
})
GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Problem:
    """An input that is not a video we can try (missing path, empty glob...)."""

    path: str
    reason: str


def is_video_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def read_paths(stream: BinaryIO, null: bool) -> list[str]:
    """Paths from a byte stream: one per line, or NUL-separated (``find -print0``)."""
    data = stream.read()
    sep = b"\0" if null else b"\n"
    out = []
    for part in data.split(sep):
        if not null:
            part = part.rstrip(b"\r")
        if part:
            out.append(os.fsdecode(part))
    return out


def walk(root: str) -> Iterable[str]:
    """Video files under ``root``, sorted, hidden entries skipped, symlinks followed without loops."""
    seen: set[tuple[int, int]] = set()

    def visit(d: str) -> Iterable[str]:
        try:
            st = os.stat(d)
        except OSError:
            return
        key = (st.st_dev, st.st_ino)
        if key in seen:
            return  # a symlink loop or a folder reached twice
        seen.add(key)
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            return
        subdirs = []
        for e in entries:
            if e.name.startswith("."):
                continue
            try:
                is_dir = e.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(e.path)
            elif is_video_name(e.name):
                yield e.path  # broken links and FIFOs too: the decoder reports them
        for sd in subdirs:
            yield from visit(sd)

    yield from visit(root)


def discover(args: Iterable[str], stdin: BinaryIO | None = None, null: bool = False
             ) -> tuple[list[str], list[Problem]]:
    """Expand the command line's inputs into an ordered, duplicate-free list of video paths."""
    videos: list[str] = []
    problems: list[Problem] = []
    seen_ids: set[tuple[int, int]] = set()
    seen_names: set[str] = set()

    def add(path: str) -> None:
        try:
            st = os.stat(path)
            ident = (st.st_dev, st.st_ino) if stat.S_ISREG(st.st_mode) else None
        except OSError:
            ident = None
        if ident is not None:
            if ident in seen_ids:
                return
            seen_ids.add(ident)
        norm = os.path.normpath(path)
        if norm in seen_names:
            return
        seen_names.add(norm)
        videos.append(path)

    def expand(arg: str) -> None:
        if os.path.isdir(arg):
            for p in walk(arg):
                add(p)
        elif os.path.lexists(arg):
            add(arg)  # an explicit file is tried whatever its extension
        elif GLOB_CHARS & set(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                problems.append(Problem(arg, "no file matches this pattern"))
            for m in matches:
                if os.path.isdir(m):
                    for p in walk(m):
                        add(p)
                elif is_video_name(m):
                    add(m)
        else:
            problems.append(Problem(arg, "no such file or directory"))

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
