"""Decoder backends (decord, OpenCV) behind one small protocol.

Every backend opens a file that has already been checked to be a regular, readable file,
reads it once front to back, converts only the frames asked for, and reports the stream's
own timestamps. Facts this is built on (see ``shared/spec/decoding-and-reliability.md``):

* a FIFO hangs both decoders and a non-UTF-8 name crashes OpenCV: we open the file ourselves
  (``O_NONBLOCK``), check ``S_ISREG`` and hand the decoder ``/proc/self/fd/N``;
* OpenCV never raises on corrupt input: a read that falls short of the frame count is a
  failed decode, not a success;
* ``VideoReader.seek`` to a frame that is not a keyframe makes decord2's next ``get_batch``
  return wrong frames (measured: max pixel error 139 on mp4v, every third window); we never
  seek, we read sorted batches front to back. decord2 3.4's memory stays flat that way
  (1080p: 406 MB for 20 s, 427 MB for 60 s), unlike decord 0.6's unbounded read-ahead.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Protocol

import numpy as np

from .errors import DecodeError

BACKENDS = ("decord", "opencv")
DECODERS = ("auto",) + BACKENDS  # --decoder
# codecs (FourCC, lower case) that OpenCV 5's bundled FFmpeg opens but cannot decode
NO_OPENCV_DECODER = {"av01"}


class FrameCountChanged(Exception):
    """OpenCV's frame count was an estimate (e.g. variable frame rate in Matroska): the stream
    ended cleanly at ``count`` frames. The caller decodes again with the true count."""

    def __init__(self, count: int) -> None:
        super().__init__(f"the video has {count} frames")
        self.count = count


@dataclass
class VideoInfo:
    """What a decoder knows about a video once it is open."""

    num_frames: int
    fps: float
    width: int
    height: int
    rotation: int = 0
    backend: str = ""
    timestamps: np.ndarray | None = None  # start time of each frame (s), when known up front
    duration: float | None = None
    extra: dict = field(default_factory=dict)


class Reader(Protocol):
    info: VideoInfo

    def frames(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (index, RGB uint8 frame) for ``indices`` (ascending, unique; any iterable, consumed
        lazily), front to back."""

    def final_timestamps(self) -> tuple[np.ndarray, float]:
        """Start time of every frame and the duration, once ``frames`` has run to the end."""

    def close(self) -> None: ...


def open_checked(path: str) -> int:
    """Open ``path`` for reading without blocking; raise DecodeError unless it is a regular file."""
    raw = os.fsencode(path)
    try:
        fd = os.open(raw, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if os.path.islink(raw):
            raise DecodeError("dangling symbolic link") from None
        raise DecodeError("no such file") from None
    except PermissionError:
        raise DecodeError("permission denied") from None
    except OSError as exc:
        raise DecodeError(f"cannot open ({os.strerror(exc.errno) if exc.errno else exc})") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a FIFO" if stat.S_ISFIFO(st.st_mode)
                else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
                else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise DecodeError(f"not a regular file ({kind})")
    if st.st_size == 0:
        os.close(fd)
        raise DecodeError("empty file (0 bytes)")
    try:
        os.read(fd, 1)  # EIO and friends show up here, not at open
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError as exc:
        os.close(fd)
        raise DecodeError(f"unreadable ({os.strerror(exc.errno) if exc.errno else exc})") from None
    return fd


def fd_path(fd: int) -> str:
    """A path string naming an open descriptor (works for any file name, UTF-8 or not)."""
    return f"/proc/self/fd/{fd}"


def _orientation(cap) -> int:
    """The display rotation (degrees) an open ``cv2.VideoCapture`` reports; 0 when unknown."""
    import cv2

    if not hasattr(cv2, "CAP_PROP_ORIENTATION_META"):
        return 0
    meta = cap.get(cv2.CAP_PROP_ORIENTATION_META)
    return int(round(meta)) % 360 if meta == meta else 0  # NaN: unknown


def _rotation_from_opencv(path: str) -> int:
    import cv2

    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    try:
        return _orientation(cap) if cap.isOpened() else 0
    finally:
        cap.release()


class DecordReader:
    """decord (``decord2``): exact frame counts and per-frame timestamps from the index."""

    name = "decord"

    def __init__(self, path: str, fd: int) -> None:
        try:
            import decord
        except ImportError as exc:  # pragma: no cover - decord2 is a dependency
            raise DecodeError("decord is not installed (pip install decord2)") from exc
        self._fd = fd
        src = fd_path(fd)
        _refused_by_fault(self.name, path)
        try:
            self._vr = decord.VideoReader(src, ctx=decord.cpu(0), num_threads=1)
            n = len(self._vr)
        except Exception as exc:  # decord raises DECORDError / RuntimeError with C++ text
            raise DecodeError(f"cannot decode ({_short(exc)})") from None
        if n <= 0:
            raise DecodeError("no video frames")
        try:
            ts = np.asarray(self._vr.get_frame_timestamp(np.arange(n)), dtype=np.float64)
        except Exception as exc:
            raise DecodeError(f"cannot read frame timestamps ({_short(exc)})") from None
        starts = ts[:, 0]
        duration = float(ts[-1, 1]) if ts[-1, 1] > ts[-1, 0] else None
        fps = float(self._vr.get_avg_fps() or 0) or (n / duration if duration else 25.0)
        if duration is None:
            duration = float(starts[-1] + 1.0 / fps)
        self._rotation = _rotation_from_opencv(src)
        try:
            # decord2 applies the display rotation itself; the first frame gives the shown size
            # get_batch, the path frames() takes (vr[i] succeeds on some files get_batch fails on)
            h, w = self._vr.get_batch([0]).shape[1:3]
            self._vr.seek(0)
        except Exception as exc:
            raise DecodeError(f"cannot decode the first frame ({_short(exc)})") from None
        self.info = VideoInfo(n, fps, w, h, self._rotation, self.name, starts, duration)

    def frames(self, indices: Iterable[int], chunk: int = 8) -> Iterator[tuple[int, np.ndarray]]:
        from itertools import islice

        wanted = iter(indices)
        while part := list(islice(wanted, chunk)):
            try:
                batch = self._vr.get_batch(part).asnumpy()
            except Exception as exc:
                raise DecodeError(f"decoding failed at frame {part[0]} ({_short(exc)})") from None
            if batch.ndim != 4 or batch.shape[-1] != 3:
                raise DecodeError(f"decoder returned frames of shape {batch.shape[1:]}, not RGB")
            for i, frame in zip(part, batch):
                yield i, frame

    def final_timestamps(self) -> tuple[np.ndarray, float]:
        return self.info.timestamps, float(self.info.duration)

    def close(self) -> None:
        self._vr = None


class OpenCVReader:
    """OpenCV (FFmpeg backend): ``grab`` every frame, ``retrieve`` only the ones asked for."""

    name = "opencv"

    def __init__(self, path: str, fd: int, frame_count: int | None = None) -> None:
        import cv2

        self._cv2 = cv2
        self._fd = fd
        _refused_by_fault(self.name, path)
        cap = cv2.VideoCapture(fd_path(fd), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise DecodeError("cannot decode (OpenCV could not open it as a video)")
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._claimed = n
        if frame_count is not None:
            n = frame_count
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0)
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if n == 0 and frame_count is None:
            cap.release()
            err = DecodeError("no video frames (the video track is empty)")
            err.empty = True  # the true reason, should decord fail on the file too
            raise err
        if n <= 0 or n > 10**9:
            cap.release()
            raise DecodeError(f"cannot decode (bad frame count {n})")
        if w <= 0 or h <= 0:
            cap.release()
            raise DecodeError("cannot decode (no picture size)")
        rotation = _orientation(cap)
        # OpenCV applies the display rotation itself (CAP_PROP_ORIENTATION_AUTO) and reports
        # the displayed size
        self._cap = cap
        self._ts: list[float] = []
        self._grabbed = 0
        self._first_pts = 0.0  # the first frame's time in frames (CAP_PROP_PTS), once grabbed
        self.info = VideoInfo(n, fps if fps > 0 else 25.0, w, h, rotation, self.name, None, None)

    def frames(self, indices: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        cv2 = self._cv2
        wanted = iter(indices)  # ascending and unique (the Reader protocol); may be lazy
        nxt = next(wanted, None)
        n = self.info.num_frames
        while self._grabbed < n:
            if not self._cap.grab():
                break
            self._ts.append(self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
            if not self._grabbed:
                self._first_pts = _first_pts(self._cap)
            i = self._grabbed
            self._grabbed += 1
            if nxt is not None and i == nxt:
                ok, bgr = self._cap.retrieve()
                if not ok or bgr is None:
                    err = DecodeError(f"decoding failed at frame {i}")
                    err.fallback = True
                    raise err
                yield i, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                nxt = next(wanted, None)
        if self._grabbed == n and self._cap.grab():
            # the container's count was an under-estimate (e.g. Matroska, variable frame rate):
            # count the rest and decode again with the true count
            m = n + 1
            while self._cap.grab():
                m += 1
            raise FrameCountChanged(m)
        if self._grabbed < n:
            # OpenCV never raises on a damaged stream; a short read is a failure unless the
            # stream's own clock says it reached the end (the count was an estimate)
            # the clock is the stream's own from its first frame; a count taken from the container's
            # duration also counts the time before a first frame that is not at 0 (a segment cut
            # with `-c copy -copyts`, a live capture): measured from that frame too. (decord, which
            # would read such a file, reads a truncated one without a word: no fallback here.)
            m = self._grabbed
            step = float(np.median(np.diff(self._ts[-9:]))) if m >= 2 else 0.0
            expected_end = (self._claimed - self._first_pts) / self.info.fps
            if m >= 1 and step > 0 and self._ts[-1] + step >= expected_end - 2 * step:
                raise FrameCountChanged(m)
            if m == 0:
                codec = self._codec()
                err = DecodeError(f"OpenCV decoded no frames ({codec or 'unknown codec'}: its FFmpeg may lack "
                                  "a decoder for it; --decoder auto uses decord, which has one)")
                err.fallback = True
                raise err
            raise DecodeError(f"truncated or corrupt: decoded {m} of {n} frames")

    def _codec(self) -> str:
        code = int(self._cap.get(self._cv2.CAP_PROP_FOURCC))
        text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4)).strip("\0 ")
        return text if text.isprintable() and text else ""

    def final_timestamps(self) -> tuple[np.ndarray, float]:
        ts = np.asarray(self._ts[: self.info.num_frames], dtype=np.float64)
        if len(ts) >= 2 and np.all(np.diff(ts) >= 0) and ts[-1] > 0:
            step = float(np.median(np.diff(ts[-min(len(ts), 9):])))
            return ts, float(ts[-1] + (step if step > 0 else 1.0 / self.info.fps))
        ts = np.arange(self.info.num_frames) / self.info.fps
        return ts, float(self.info.num_frames / self.info.fps)

    def close(self) -> None:
        self._cap.release()


def _first_pts(cap) -> float:
    """The first frame's presentation time in frames (OpenCV's CAP_PROP_PTS, FFmpeg backend:
    the stream's own time, where CAP_PROP_POS_MSEC starts at 0); 0 when unknown."""
    import cv2

    pts = cap.get(cv2.CAP_PROP_PTS) if hasattr(cv2, "CAP_PROP_PTS") else 0.0
    return float(pts) if pts == pts and 0 < pts < 1e9 else 0.0


def _short(exc: BaseException) -> str:
    import re

    text = re.sub(r"/proc/self/fd/\d+\.*", "the file", str(exc)).strip()
    text = re.sub(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ", "", text)  # decord's "[time] file.cc:N: " prefix
    if "cannot find video stream" in text:
        return "no video stream it can decode: audio only, or a codec this build lacks"
    if "Error reading the file" in text or "Invalid data found" in text:
        return "not a video, or its header is damaged"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # decord's C++ errors end with the useful line after a stack dump
    for ln in reversed(lines):
        if not ln.startswith(("[bt]", "Stack trace")) and "frame #" not in ln:
            return ln[:200]
    return type(exc).__name__


def open_reader(path: str, backend: str = "auto", frame_count: int | None = None) -> Reader:
    """Open ``path`` with ``backend``.

    'auto' opens with OpenCV (measured faster, flat memory, exact frames when read front to
    back) and with decord when OpenCV cannot open the file or its FFmpeg has no decoder for the
    codec (AV1). A file OpenCV opens but cannot read through is retried with decord by
    :func:`cost_cli.workers.decode_video`. ``frame_count`` overrides OpenCV's estimate after a
    :class:`FrameCountChanged`.
    """
    if backend not in DECODERS:
        raise ValueError(f"unknown decoder {backend!r}")
    fd = open_checked(path)
    try:
        if backend == "decord":
            return _attach(DecordReader(path, fd), fd)
        try:
            reader = OpenCVReader(path, fd, frame_count)
        except DecodeError as first:
            if backend == "opencv":
                raise
            os.lseek(fd, 0, os.SEEK_SET)
            try:
                return _attach(DecordReader(path, fd), fd)
            except DecodeError as second:  # decord names the reason better (audio only, ...)
                raise (first if getattr(first, "empty", False) else second) from None
        if backend == "auto" and reader._codec().lower() in NO_OPENCV_DECODER:
            reader._cap.release()
            os.lseek(fd, 0, os.SEEK_SET)
            return _attach(DecordReader(path, fd), fd)
        return _attach(reader, fd)
    except BaseException:
        os.close(fd)
        raise


def _refused_by_fault(backend: str, path: str) -> None:
    """Tests only (``COST_FAULT_INJECT=refuse=BACKEND:SUBSTR``): this backend cannot open the file,
    as when its FFmpeg lacks the codec, whatever decoder builds the machine has."""
    from . import faults

    if faults.refused(backend, path):
        err = DecodeError(f"cannot decode ({backend} refused it: COST_FAULT_INJECT)")
        err.fallback = True
        raise err


def _attach(reader, fd: int):
    original = reader.close

    def close() -> None:
        try:
            original()
        finally:
            try:
                os.close(fd)
            except OSError as exc:  # pragma: no cover
                if exc.errno != errno.EBADF:
                    raise

    reader.close = close
    return reader


def read_with_fallback(path: str, backend: str, attempt, on_restart=None):
    """``attempt(reader)`` on a reader of ``path``, retried the ways a read may need:

    * the container's frame count was wrong (``FrameCountChanged``): once more with the true
      count (a second change is an error);
    * under ``auto``, OpenCV opened the file but could not read it through (a ``DecodeError``
      marked ``fallback``): once more with decord; if decord fails too, OpenCV's reason is kept.

    ``on_restart(payload)`` is told before each retry (what was produced so far is void):
    ``{"num_frames": n}`` for a new count, ``{}`` for a new decoder.
    """
    count, first_error, current = None, None, backend
    while True:
        reader, opened = None, None
        try:
            reader = open_reader(path, current, count)
            opened = reader.info.backend
            return attempt(reader)
        except FrameCountChanged as changed:
            if count is not None:
                raise DecodeError(f"frame count changed twice ({count}, then {changed.count})") from None
            count = changed.count
            if on_restart:
                on_restart({"num_frames": changed.count})
        except DecodeError as exc:
            if first_error is None and backend == "auto" and opened == "opencv" and exc.fallback:
                current, count, first_error = "decord", None, exc
                if on_restart:
                    on_restart({})
                continue
            raise first_error or exc from None
        finally:
            if reader is not None:
                reader.close()


def read_frames(path: str, indices: list[int], backend: str = "auto") -> tuple[np.ndarray, VideoInfo]:
    """All frames at ``indices`` (any order, repeats allowed) as (len, H, W, 3) uint8 RGB."""
    uniq = sorted(set(indices))

    def attempt(reader):
        got = dict(reader.frames(uniq))
        missing = [i for i in uniq if i not in got]
        if missing:
            raise DecodeError(f"frame {missing[0]} is beyond the end ({reader.info.num_frames} frames)")
        return np.stack([got[i] for i in indices]), reader.info

    return read_with_fallback(path, backend, attempt)
