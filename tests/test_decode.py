"""Decoders: exact frames, decord == OpenCV, timestamps, rotation, odd names, bad files."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import VIDEO_SET, vfr_truth
from cost_cli.decode import FrameCountChanged, open_reader, read_frames, read_with_fallback
from cost_cli.errors import DecodeError
from media import make_video, pattern_frames


def all_frames(path, backend, count=None):
    r = open_reader(str(path), backend, count)
    try:
        try:
            frames = dict(r.frames(range(r.info.num_frames)))
        except FrameCountChanged as changed:  # OpenCV's estimate was off: decode again
            assert count is None
            r.close()
            return all_frames(path, backend, changed.count)
        ts, dur = r.final_timestamps()
        return np.stack([frames[i] for i in sorted(frames)]), r.info, ts, dur
    finally:
        r.close()


@pytest.mark.parametrize("name", sorted(set(VIDEO_SET) - {"av1"}) + ["vfr", "rotated"])
def test_decord_and_opencv_agree(video_set, name):
    a, info_a, ts_a, dur_a = all_frames(video_set[name], "decord")
    b, info_b, ts_b, dur_b = all_frames(video_set[name], "opencv")
    n = VIDEO_SET[name][1] if name in VIDEO_SET else {"vfr": 50, "rotated": 60}[name]
    assert len(a) == len(b) == info_a.num_frames == n
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 2  # same frames (colour conversion ±2)
    assert np.abs(ts_a - ts_b).max() < 1e-3
    assert abs(dur_a - dur_b) < 1.0 / info_a.fps + 1e-6


def test_lossless_frames_are_exact(tmp_path):
    src = pattern_frames(12, 75, 97, seed=5)
    path = make_video(tmp_path / "exact", src, codec="h264-lossless")
    for backend in ("decord", "opencv"):
        frames, _ = read_frames(str(path), [0, 3, 11, 3], backend)
        assert np.array_equal(frames, src[[0, 3, 11, 3]]), backend


def test_vfr_timestamps_are_true_seconds(video_set):
    truth = np.array(vfr_truth(50))
    frame_len = np.diff(np.append(truth, truth[-1] + 0.08))
    for backend in ("decord", "opencv"):
        _, info, ts, dur = all_frames(video_set["vfr"], backend)
        assert len(ts) == 50, backend
        assert np.all(np.abs(ts - truth) <= frame_len + 1e-6), backend  # within one frame
        assert abs(dur - (truth[-1] + 0.08)) <= 0.08 + 1e-6


def test_rotation_is_honoured(video_set):
    for backend in ("decord", "opencv"):
        frames, info = read_frames(str(video_set["rotated"]), [0], backend)
        assert frames.shape[1:3] == (160, 120), backend  # displayed portrait
        assert info.rotation in (90, 270)


def test_non_utf8_name(tmp_path, video_set):
    raw = os.fsencode(tmp_path) + b"/v\xff\xfe.mp4"
    shutil.copyfile(video_set["h264"], raw)
    for backend in ("decord", "opencv"):
        frames, info = read_frames(os.fsdecode(raw), [0, 1], backend)
        assert frames.shape[0] == 2 and info.num_frames == 60


@pytest.mark.parametrize("make,needle", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("hello, not a video"), "cannot decode"),
    (lambda p: p.write_bytes(os.urandom(20000)), "cannot decode"),
    (lambda p: os.symlink(p.parent / "missing.mp4", p), "dangling symbolic link"),
    (lambda p: os.mkfifo(p), "FIFO"),
    (lambda p: p.mkdir(), "directory"),
])
def test_bad_inputs_raise_decode_error(tmp_path, make, needle):
    p = tmp_path / "bad.mp4"
    make(p)
    for backend in ("auto", "decord", "opencv"):
        with pytest.raises(DecodeError, match=needle):
            open_reader(str(p), backend)


def test_truncated_file_is_a_failed_decode(tmp_path, video_set):
    data = video_set["h264"].read_bytes()
    for cut in (len(data) // 2, len(data) - 600):
        p = tmp_path / f"cut{cut}.mp4"
        p.write_bytes(data[:cut])
        with pytest.raises(DecodeError):
            r = open_reader(str(p), "auto")
            try:
                list(r.frames(range(r.info.num_frames)))
            finally:
                r.close()


def test_av1_decodes_with_decord_and_opencv_says_why_not(video_set):
    # decord2 decodes AV1; OpenCV 5's bundled FFmpeg has no software AV1 decoder
    frames, info = read_frames(str(video_set["av1"]), list(range(30)), "auto")
    assert info.backend == "decord" and frames.shape == (30, 96, 128, 3)
    r = subprocess.run([sys.executable, "-c", "from cost_cli.decode import read_frames; import sys; "
                        f"read_frames({str(video_set['av1'])!r}, [0], 'opencv')"], capture_output=True, text=True)
    if r.returncode != 0:  # (an OpenCV build with an AV1 decoder simply succeeds)
        assert "OpenCV decoded no frames (av01" in r.stderr or "OpenCV decoded no frames" in r.stderr


def test_auto_uses_decord_when_opencv_cannot_open(tmp_path, monkeypatch):
    """The fallback is driven by the fault hook: it holds whatever decoder builds the machine
    has (a test that needed decord2 to fail on 96-pixel-wide frames broke with another ffmpeg)."""
    path = make_video(tmp_path / "small", pattern_frames(10, 64, 128), codec="h264")
    expected, _ = read_frames(str(path), list(range(10)), "opencv")
    monkeypatch.setenv("COST_FAULT_INJECT", "refuse=opencv:small")
    with pytest.raises(DecodeError, match="opencv refused it"):
        open_reader(str(path), "opencv")
    frames, info = read_frames(str(path), list(range(10)), "auto")
    assert info.backend == "decord" and frames.shape == (10, 64, 128, 3)
    assert np.abs(frames.astype(int) - expected.astype(int)).max() <= 2


def test_auto_never_needs_decord_for_what_opencv_reads(tmp_path, monkeypatch):
    path = make_video(tmp_path / "small", pattern_frames(10, 64, 128), codec="h264")
    monkeypatch.setenv("COST_FAULT_INJECT", "refuse=decord:small")
    with pytest.raises(DecodeError, match="decord refused it"):
        open_reader(str(path), "decord")
    frames, info = read_frames(str(path), list(range(10)), "auto")
    assert info.backend == "opencv" and frames.shape == (10, 64, 128, 3)


def test_a_file_neither_decoder_opens_keeps_the_first_reason(tmp_path, monkeypatch):
    path = make_video(tmp_path / "small", pattern_frames(10, 64, 128), codec="h264")
    monkeypatch.setenv("COST_FAULT_INJECT", "refuse=opencv:small,refuse=decord:small")
    with pytest.raises(DecodeError, match="refused it"):
        read_frames(str(path), [0], "auto")


@pytest.fixture(scope="module")
def offset_cuts(tmp_path_factory):
    """Segments cut with ``-c copy -copyts`` from the middle of longer files: valid video whose
    timestamps start at 4 s (as a live capture's do), in mp4, mkv and webm."""
    if not shutil.which("ffmpeg"):
        pytest.skip("needs the ffmpeg binary (apt-get install ffmpeg)")
    root = tmp_path_factory.mktemp("cuts")
    made = {}
    for ext, codec in (("mp4", "libx264"), ("mkv", "libx264"), ("webm", "libvpx")):
        long = root / f"long.{ext}"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=128x96:rate=25",
                        "-t", "6", "-c:v", codec, "-g", "25", "-pix_fmt", "yuv420p", str(long)], check=True)
        cut = root / f"cut.{ext}"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-ss", "4", "-i", str(long), "-c", "copy", "-copyts",
                        str(cut)], check=True)
        made[ext] = cut
    return made


@pytest.mark.parametrize("ext", ["mp4", "mkv", "webm"])
def test_timestamps_that_do_not_start_at_zero_are_normal_video(offset_cuts, ext):
    """OpenCV's count for a Matroska segment starting at 4 s counts the missing 4 s too (150
    frames where there are 50 or 75): the count is taken from the first frame's own time, and
    both decoders give the segment's own clock, starting at its first frame."""
    path = str(offset_cuts[ext])
    for backend in ("auto", "opencv", "decord"):
        def attempt(reader):
            n = sum(1 for _ in reader.frames(range(reader.info.num_frames)))
            ts, duration = reader.final_timestamps()
            return n, ts, duration
        n, ts, duration = read_with_fallback(path, backend, attempt)
        assert 45 <= n <= 80, (backend, n)  # from the keyframe at or before 4 s
        assert ts[0] == pytest.approx(0.0, abs=0.05) and duration == pytest.approx(n / 25, abs=0.1), (backend, ts[:3])


def test_offset_segments_label_end_to_end(offset_cuts, tiny_model_dir, tmp_path):
    # a process of its own: torch's forward pass segfaulted in a process where decord had
    # decoded these files (this test file's, in-process); `cost label` never mixes the two
    # (its decoders run in worker processes)
    r = subprocess.run([sys.executable, "-m", "cost_cli", "label", *[str(p) for p in offset_cuts.values()],
                        "--model", str(tiny_model_dir), "-o", str(tmp_path / "o.csv")], capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    rows = (tmp_path / "o.csv").read_text().splitlines()[1:]
    assert {ln.split(",")[0] for ln in rows} == {str(p) for p in offset_cuts.values()}
    assert all(float(ln.split(",")[1]) < 2.1 for ln in rows)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(tmp_path, video_set):
    p = tmp_path / "locked.mp4"
    shutil.copy(video_set["h264"], p)
    os.chmod(p, 0)
    with pytest.raises(DecodeError, match="permission denied"):
        open_reader(str(p))


def test_sparse_windows_decode_the_right_frames(tmp_path):
    """Regression: decord2's seek() to a non-keyframe returned wrong frames for later batches."""
    import cv2

    src = pattern_frames(200, 96, 128, seed=3)
    path = tmp_path / "mp4v.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (128, 96))
    for f in src:
        w.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    w.release()
    windows = sorted({i for k in range(12) for i in range(16 * k, 16 * k + 16, 2)})
    a, _ = read_frames(str(path), windows, "decord")
    b, _ = read_frames(str(path), windows, "opencv")
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 2
