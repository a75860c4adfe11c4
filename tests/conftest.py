"""Shared fixtures: tiny models and videos made on the spot."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

# never reach the internet from tests
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("COST_NO_TTY", "1")

# one worker per core: each worker's torch (and the `cost` processes it starts) gets its share
# of the cores instead of a thread per core each
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
if _WORKERS > 1:
    _threads = str(max(1, (os.cpu_count() or 1) // _WORKERS))
    os.environ.setdefault("OMP_NUM_THREADS", _threads)
    os.environ.setdefault("MKL_NUM_THREADS", _threads)


# the longest files first: with one worker per core (`-n auto --dist loadfile`) a long file
# handed out last would leave the other cores idle at the end (measured durations, 2 cores)
LONGEST_FIRST = ("test_ray.py", "test_generalization.py", "test_download.py", "test_hub.py", "test_zoo_models.py",
                 "test_resume.py", "test_train.py", "test_memory.py", "test_hardening.py", "test_convert.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A randomly initialised costb-tiny model folder (5 classes, 8x2 sampling, 64/56 px)."""
    import torch

    from cost_cli.model.folder import ModelConfig, write_model_folder
    from cost_cli.model.resnet3d_cost import CoSTRecognizer

    torch.manual_seed(0)
    model = CoSTRecognizer("costb-tiny", 5)
    cfg = ModelConfig(arch="costb-tiny", num_classes=5, clip_len=8, frame_interval=2,
                      short_side=64, crop_size=56, dataset="test", name="tiny-test")
    out = tmp_path_factory.mktemp("models") / "tiny"
    write_model_folder(out, cfg, ["walking", "running", "jumping", "sitting", "waving"], model.state_dict())
    return out


VIDEO_SET = {
    # name: (codec, n_frames, (h, w), fps, extra ffmpeg args, audio)
    "h264": ("h264", 60, (96, 128), 25, None, False),
    "hevc": ("hevc", 40, (96, 128), 30, None, False),
    "mpeg4": ("mpeg4", 50, (96, 128), 25, None, False),
    "vp9": ("vp9", 45, (96, 128), 24, None, False),
    "av1": ("av1", 30, (96, 128), 25, None, False),
    "mjpeg": ("mjpeg", 35, (96, 128), 15, None, False),
    "odd_lossless": ("h264-lossless", 41, (75, 97), 25, None, False),
    "short": ("h264", 5, (96, 128), 25, None, False),
    "with_audio": ("h264", 50, (96, 128), 25, None, True),
}


@pytest.fixture(scope="session")
def video_set(tmp_path_factory) -> dict[str, Path]:
    """Small videos in several codecs, sizes and shapes (made once per test session)."""
    from media import make_video, pattern_frames

    root = tmp_path_factory.mktemp("videos")
    out = {}
    for i, (name, (codec, n, (h, w), fps, extra, audio)) in enumerate(VIDEO_SET.items()):
        out[name] = make_video(root / name, pattern_frames(n, h, w, seed=i), fps=fps, codec=codec,
                               extra=extra, audio=audio)
    out["vfr"] = make_vfr(root / "vfr.mkv")
    # rotation metadata survives only a stream copy in ffmpeg 5
    from media import ffmpeg

    upright = make_video(root / "upright", pattern_frames(60, 120, 160, seed=7), fps=25, codec="h264")
    ffmpeg("-i", str(upright), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(root / "rotated.mp4"))
    upright.unlink()
    out["rotated"] = root / "rotated.mp4"
    return out


VFR_SWITCH = 30  # frames 0..29 at 25 fps, then frames every 0.08 s


def vfr_truth(n: int) -> list[float]:
    return [i / 25 if i < VFR_SWITCH else VFR_SWITCH / 25 + (i - VFR_SWITCH) * 0.08 for i in range(n)]


def make_vfr(path: Path, n: int = 50) -> Path:
    """A variable-frame-rate video: 25 fps for 30 frames, then 12.5 fps."""
    from media import ffmpeg_exe, pattern_frames
    import subprocess

    frames = pattern_frames(n, 96, 128, seed=99)
    expr = f"if(lt(N,{VFR_SWITCH}),N,{VFR_SWITCH}+(N-{VFR_SWITCH})*2)/25/TB"
    cmd = [ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "128x96",
           "-r", "25", "-i", "-", "-vf", f"setpts='{expr}'", "-vsync", "vfr", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(cmd, input=frames.tobytes(), check=True)
    return path
