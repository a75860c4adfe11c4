"""Tiny test videos, written by ffmpeg (or OpenCV) from frames we know.

``make_video`` returns the path; ``pattern_frames`` gives frames whose content encodes their
index, so a decoder can be checked against exact expectations.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

CODECS = {
    # name: (extension, ffmpeg video args)
    "h264": (".mp4", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]),
    "h264-lossless": (".mkv", ["-c:v", "libx264rgb", "-qp", "0", "-preset", "ultrafast"]),
    "hevc": (".mp4", ["-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                      "-x265-params", "log-level=error"]),
    "mpeg4": (".avi", ["-c:v", "mpeg4", "-q:v", "3"]),
    "vp9": (".webm", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "1M"]),
    "av1": (".mkv", ["-c:v", "libaom-av1", "-cpu-used", "8", "-row-mt", "1", "-b:v", "1M"]),
    "mjpeg": (".mov", ["-c:v", "mjpeg", "-q:v", "3", "-pix_fmt", "yuvj420p"]),
}


def ffmpeg_exe() -> str | None:
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:
        return None


def pattern_frames(n: int, height: int = 72, width: int = 96, seed: int = 0) -> np.ndarray:
    """(n, H, W, 3) uint8 frames: a moving bright square on a smooth background, index-coded."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([(xx * 255 // max(1, width - 1)), (yy * 255 // max(1, height - 1)),
                     np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    frames = np.repeat(base[None], n, axis=0).copy()
    size = max(4, min(height, width) // 4)
    for i in range(n):
        x = (i * 3) % max(1, width - size)
        y = (i * 2) % max(1, height - size)
        frames[i, y:y + size, x:x + size] = (255, 255 - (i * 7) % 256, (i * 13) % 256)
    frames += rng.integers(0, 3, size=frames.shape, dtype=np.uint8)
    return frames


def make_video(path: str | Path, frames: np.ndarray, fps: float = 25, codec: str = "h264",
               extra: list[str] | None = None, audio: bool = False) -> Path:
    """Encode RGB ``frames`` into ``path`` (extension chosen by the codec when ``path`` has none)."""
    path = Path(path)
    ext, args = CODECS[codec]
    if not path.suffix:
        path = path.with_suffix(ext)
    exe = ffmpeg_exe()
    if exe is None:
        raise RuntimeError("ffmpeg is needed to make test videos (apt-get install ffmpeg)")
    n, h, w, _ = frames.shape
    cmd = [exe, "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
           "-s", f"{w}x{h}", "-r", str(fps), "-i", "-"]
    if audio:
        cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={n / fps}", "-c:a", "aac", "-shortest"]
    cmd += args + (extra or []) + [str(path)]
    subprocess.run(cmd, input=np.ascontiguousarray(frames).tobytes(), check=True)
    return path


def ffmpeg(*args: str) -> None:
    """Run ffmpeg with ``args`` (quiet, raise on failure)."""
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", *args], check=True)
