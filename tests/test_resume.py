"""Resume after any crash, survive any input: kills, bad files, crashing and hanging decoders."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from media import make_video, pattern_frames
import clirun

ENV = dict(os.environ, COST_DEBUG="")


def cost(*args, env=None, **kw):
    return clirun.cost(*args, env=env or ENV, **kw)


def start(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "cost_cli", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env or ENV, start_new_session=True)


@pytest.fixture(scope="module")
def many_videos(tmp_path_factory):
    """Twelve small videos of different lengths."""
    root = tmp_path_factory.mktemp("many")
    for i in range(12):
        make_video(root / f"v{i:02d}", pattern_frames(20 + 9 * i, 64, 80, seed=i), fps=25, codec="h264")
    return root


def rows_of(path, fmt):
    text = path.read_text()
    if fmt == "json":
        doc = json.loads(text)
        return [(v["video"], s["start"], s["end"], s["label"], s["score"]) for v in doc["videos"] for s in v["segments"]]
    if fmt == "jsonl":
        return [tuple(json.loads(line)[k] for k in ("video", "start", "end", "label", "score"))
                for line in text.splitlines()]
    return text.splitlines()


def wait_until(ready, timeout: float, what: str, p=None) -> None:
    """Wait for ``ready()``; fail the test (naming ``what``) if it does not come in time."""
    deadline = time.monotonic() + timeout
    while not ready():
        if p is not None and p.poll() is not None:
            pytest.fail(f"the run ended before {what}: " + p.stderr.read().decode())
        if time.monotonic() > deadline:
            if p is not None:
                os.killpg(p.pid, signal.SIGKILL)
            pytest.fail(f"no {what} within {timeout:g} s")
        time.sleep(0.02)


def committed(out) -> int:
    jp = Path(str(out) + ".cost-journal")
    return jp.read_bytes().count(b"\n") - 1 if jp.exists() else -1


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_sigkill_mid_run_then_finish_equals_uninterrupted(many_videos, tiny_model_dir, tmp_path, fmt):
    """One power cut per format, with videos committed and others under way; every other instant
    of a kill is covered by tests/test_journal.py (the journal cut at every byte) and
    tests/test_hardening.py (before the first commit, during the JSON rebuild)."""
    common = [many_videos, "--model", tiny_model_dir, "--no-merge", "--workers", "1", "--batch-size", "2",
              "--format", fmt, "-q"]
    ref = tmp_path / f"ref.{fmt}"
    r = cost("label", *common, "--out", ref)
    assert r.returncode == 0, r.stderr.decode()
    out = tmp_path / f"out.{fmt}"
    # v07's decoder hangs: the run is mid-way, with v00..v06 committed, when the whole group dies
    p = start("label", *common, "--out", out, env=dict(ENV, COST_FAULT_INJECT="hang=v07"))
    wait_until(lambda: committed(out) >= 7, 120, "seventh commit", p)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    r = cost("label", *common, "--out", out)
    assert r.returncode == 0, r.stderr.decode()
    got, want = rows_of(out, fmt), rows_of(ref, fmt)
    assert len(got) == len(set(got))  # each row once (rows hold the video and its times)
    assert got == want


@pytest.fixture()
def two_videos(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(2):
        make_video(d / f"ok{i}", pattern_frames(30, 64, 80, seed=i), codec="h264")
    return d


def test_changed_settings_refuse_then_overwrite(two_videos, tiny_model_dir, tmp_path):
    out = tmp_path / "labels.csv"
    assert cost("label", two_videos, "--model", tiny_model_dir, "-o", out).returncode == 0
    before = out.read_bytes()
    r = cost("label", two_videos, "--model", tiny_model_dir, "-o", out, "--topk", "2")
    assert r.returncode == 2
    assert b"other settings (topk: 5 -> 2)" in r.stderr and b"--overwrite" in r.stderr
    assert out.read_bytes() == before
    r = cost("label", two_videos, "--model", tiny_model_dir, "-o", out, "--topk", "2", "--overwrite")
    assert r.returncode == 0 and out.read_bytes() != before
    # same settings again: everything is skipped, nothing is duplicated
    again = out.read_bytes()
    r = cost("label", two_videos, "--model", tiny_model_dir, "-o", out, "--topk", "2")
    assert r.returncode == 0 and out.read_bytes() == again and b"2 video(s) already labeled" in r.stderr


def test_existing_file_without_journal_is_never_clobbered(two_videos, tiny_model_dir, tmp_path):
    out = tmp_path / "precious.csv"
    out.write_text("my data\n")
    r = cost("label", two_videos, "--model", tiny_model_dir, "-o", out)
    assert r.returncode == 2 and b"has no journal" in r.stderr
    assert out.read_text() == "my data\n"


def test_new_videos_are_added_on_resume(two_videos, tiny_model_dir, tmp_path):
    out = tmp_path / "l.jsonl"
    assert cost("label", two_videos, "--model", tiny_model_dir, "-o", out).returncode == 0
    n = len(out.read_text().splitlines())
    make_video(two_videos / "ok2", pattern_frames(30, 64, 80, seed=5), codec="h264")
    r = cost("label", two_videos, "--model", tiny_model_dir, "-o", out)
    assert r.returncode == 0
    videos = [json.loads(line)["video"] for line in out.read_text().splitlines()]
    assert len(videos) == n + 1 and videos[-1].endswith("ok2.mp4")


def test_retry_failed(two_videos, tiny_model_dir, tmp_path):
    bad = two_videos / "later.mp4"
    bad.write_text("not yet a video")
    out = tmp_path / "l.csv"
    r = cost("label", two_videos, "--model", tiny_model_dir, "-o", out)
    assert r.returncode == 1
    shutil.copy(next(two_videos.glob("ok0.mp4")), bad)  # the file is fixed
    r = cost("label", two_videos, "--model", tiny_model_dir, "-o", out)
    assert r.returncode == 1 and b"failed in an earlier run" in r.stderr  # skipped, still failed
    r = cost("label", two_videos, "--model", tiny_model_dir, "-o", out, "--retry-failed")
    assert r.returncode == 0, r.stderr.decode()
    assert sum("later.mp4" in line for line in out.read_text().splitlines()) == 1


def test_crashing_and_hanging_decoders_fail_one_video_each(two_videos, tiny_model_dir, tmp_path):
    for name in ("crashme", "abortme", "hangme"):
        make_video(two_videos / name, pattern_frames(20, 64, 80), codec="h264")
    env = dict(ENV, COST_FAULT_INJECT="crash=crashme,abort=abortme,hang=hangme")
    out = tmp_path / "l.csv"
    t0 = time.monotonic()
    r = cost("label", two_videos, "--model", tiny_model_dir, "-o", out, "--decode-timeout", "3",
             "--errors", tmp_path / "e.jsonl", "--workers", "2", env=env, timeout=120)
    assert time.monotonic() - t0 < 60
    assert r.returncode == 1, r.stderr.decode()
    err = r.stderr.decode()
    assert "crashme.mp4: decoder crashed (killed by signal SIGSEGV)" in err
    assert "abortme.mp4: decoder crashed (killed by signal SIGABRT)" in err
    assert "hangme.mp4: decoding timed out" in err
    labeled = {line.split(",")[0].rsplit("/", 1)[-1] for line in out.read_text().splitlines()[1:]}
    assert labeled == {"ok0.mp4", "ok1.mp4"}
    classes = {json.loads(line)["error_class"] for line in (tmp_path / "e.jsonl").read_text().splitlines()}
    assert classes == {"DecoderCrash", "DecodeTimeout"}


def long_videos(tmp_path, n: int):
    """A folder of ``n`` 16-second videos."""
    d = tmp_path / "in"
    d.mkdir()
    for i in range(n):
        make_video(d / f"long{i}", pattern_frames(400, 64, 80, seed=i), codec="h264")
    return d


def signal_mid_run(tmp_path, model, n: int, sig: int, group: bool):
    """Start labeling ``n`` long videos, send ``sig`` once one is committed, and return
    (videos folder, output, exit code, stderr). The last video's decoder hangs, so the run is
    still going when the signal comes (the videos take well under a second otherwise)."""
    d = long_videos(tmp_path, n)
    out = tmp_path / "l.csv"
    p = start("label", d, "--model", model, "-o", out, "--workers", "1",
              env=dict(ENV, COST_FAULT_INJECT=f"hang=long{n - 1}"))
    wait_until(lambda: committed(out) >= 1, 60, "first commit", p)
    if group:
        os.killpg(p.pid, sig)
    else:
        os.kill(p.pid, sig)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        pytest.fail(f"signal {sig} did not stop the run within 30 s; its stderr:\n" + p.stderr.read().decode())
    return d, out, p.returncode, p.stderr.read().decode()


def test_ctrl_c_stops_cleanly_and_resumes(tmp_path, tiny_model_dir):
    # Ctrl-C reaches the whole foreground group
    d, out, code, err = signal_mid_run(tmp_path, tiny_model_dir, 6, signal.SIGINT, group=True)
    assert code == 130 and "interrupted" in err, err
    r = cost("label", d, "--model", tiny_model_dir, "-o", out, "--workers", "1")
    assert r.returncode == 0
    ref = tmp_path / "ref.csv"
    cost("label", d, "--model", tiny_model_dir, "-o", ref, "--workers", "1")
    assert out.read_text().replace(str(out), "") == ref.read_text().replace(str(ref), "")


def test_sigterm_stops_with_143_and_resumes(tmp_path, tiny_model_dir):
    # a service manager stopping the job signals the main process
    d, out, code, err = signal_mid_run(tmp_path, tiny_model_dir, 3, signal.SIGTERM, group=False)
    assert code == 143 and "terminated" in err and "Traceback" not in err, err
    r = cost("label", d, "--model", tiny_model_dir, "-o", out, "--workers", "1")
    assert r.returncode == 0, r.stderr.decode()
    rows = out.read_text().splitlines()[1:]
    assert len(rows) == len(set(rows)) and len({row.split(",")[0] for row in rows}) == 3


def test_bad_inputs_each_get_one_line(tmp_path, tiny_model_dir, video_set):
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(video_set["h264"], d / "good.mp4")
    data = video_set["h264"].read_bytes()
    (d / "zero.mp4").write_bytes(b"")
    (d / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (d / "garbage_header.mp4").write_bytes(os.urandom(64) + data[64:])
    (d / "random.mp4").write_bytes(os.urandom(30000))
    (d / "text.mp4").write_text("this is a text file\n")
    os.symlink(d / "gone.mp4", d / "dangling.mp4")
    os.mkfifo(d / "fifo.mp4")
    (d / "folder.mp4").mkdir()
    shutil.copy(video_set["h264"], d / "folder.mp4" / "inside.mp4")
    subprocess.run([shutil.which("ffmpeg") or "ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=1", "-c:a", "aac", str(d / "audio_only.mp4")], check=True)
    mkv = d / "codec.mkv"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=128x96:rate=25",
                    "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(mkv)], check=True)
    mkv.write_bytes(mkv.read_bytes().replace(b"V_MPEG4/ISO/AVC", b"V_NOPE4/ISO/XYZ"))  # unknown codec
    out = tmp_path / "l.csv"
    r = cost("label", d, tmp_path / "not-there.mp4", "--model", tiny_model_dir, "-o", out, timeout=120)
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.decode().splitlines() if ln.startswith("error:")]
    expected = {"zero.mp4": "empty file", "truncated.mp4": "", "garbage_header.mp4": "",
                "random.mp4": "", "text.mp4": "not a video", "dangling.mp4": "dangling symbolic link",
                "fifo.mp4": "FIFO", "audio_only.mp4": "audio only", "codec.mkv": "codec",
                "not-there.mp4": "no such file"}
    for name, needle in expected.items():
        hits = [ln for ln in lines if f"{name}:" in ln]
        assert len(hits) == 1, (name, lines)
        assert needle in hits[0], hits[0]
    assert "Traceback" not in r.stderr.decode()
    labeled = {line.split(",")[0].rsplit("/", 1)[-1] for line in out.read_text().splitlines()[1:]}
    assert labeled == {"good.mp4", "inside.mp4"}


def test_file_vanishing_mid_run(tmp_path, tiny_model_dir):
    """A file found by discovery and gone when its turn comes (deleted by the fault hook just
    before the worker opens it: no race with the decoders)."""
    d = tmp_path / "in"
    d.mkdir()
    make_video(d / "a_first", pattern_frames(60, 64, 80), codec="h264")
    make_video(d / "b_vanish", pattern_frames(30, 64, 80), codec="h264")
    out = tmp_path / "l.csv"
    r = cost("label", d, "--model", tiny_model_dir, "-o", out, env=dict(ENV, COST_FAULT_INJECT="vanish=b_vanish"))
    err = r.stderr.decode()
    assert r.returncode == 1 and "b_vanish.mp4: no such file" in err, err
    assert not (d / "b_vanish.mp4").exists()
    assert "a_first.mp4" in out.read_text()


def test_output_trouble_is_a_clear_error(tmp_path, tiny_model_dir, video_set):
    # disk full: a file size limit makes the second video's write fail with EFBIG
    import resource

    out = tmp_path / "l.csv"
    limit = 2000  # room for the journal and two videos, not three

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    d = tmp_path / "in"
    d.mkdir()
    for i in range(3):
        shutil.copy(video_set["h264"], d / f"v{i}.mp4")
    r = subprocess.run([sys.executable, "-m", "cost_cli", "label", d, "--model", tiny_model_dir, "-o", out,
                        "--no-merge"], capture_output=True, env=ENV, preexec_fn=small_files)  # its own limits
    assert r.returncode == 1
    assert b"cannot write" in r.stderr and b"Traceback" not in r.stderr
    text = out.read_text()
    assert len(out.read_bytes()) <= limit and text.endswith("\n")  # whole rows only
    r = cost("label", d, "--model", tiny_model_dir, "-o", out, "--no-merge")  # room again: resume
    assert r.returncode == 0
    ref = tmp_path / "ref.csv"
    cost("label", d, "--model", tiny_model_dir, "-o", ref, "--no-merge")
    assert out.read_text() == ref.read_text()
    # a read-only place (root writes through permission bits: make the folder immutable instead)
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o555)
    immutable = os.geteuid() == 0 and shutil.which("chattr") is not None
    if immutable:
        subprocess.run(["chattr", "+i", str(ro)], check=True)
    try:
        r = cost("label", d / "v0.mp4", "--model", tiny_model_dir, "-o", ro / "l.csv")
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(ro)], check=True)
    if os.geteuid() == 0 and not immutable:
        pytest.skip("running as root without chattr: cannot make a read-only folder")
    assert r.returncode == 1, r.stderr.decode()
    assert b"permission denied" in r.stderr and b"Traceback" not in r.stderr
    assert not (ro / "l.csv").exists()


def test_second_run_on_the_same_output_is_refused(tmp_path, tiny_model_dir):
    d = long_videos(tmp_path, 3)
    out = tmp_path / "l.csv"
    # the first run stays busy: its decoder hangs on long1 (a long --decode-timeout)
    env = dict(ENV, COST_FAULT_INJECT="hang=long1")
    p = start("label", d, "--model", tiny_model_dir, "-o", out, "--workers", "1", "--decode-timeout", "600",
              env=env)
    wait_until(lambda: committed(out) >= 1, 60, "first commit", p)
    r = cost("label", d, "--model", tiny_model_dir, "-o", out)
    assert p.poll() is None  # the first run is still going
    assert r.returncode == 1 and b"another cost label run is writing it" in r.stderr
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    r = cost("label", d, "--model", tiny_model_dir, "-o", out)  # the lock died with its holder
    assert r.returncode == 0, r.stderr.decode()
    rows = out.read_text().splitlines()[1:]
    assert len(rows) == len(set(rows)) and len({row.split(",")[0] for row in rows}) == 3


def test_damaged_journal_is_a_resume_error(two_videos, tiny_model_dir, tmp_path):
    out = tmp_path / "l.csv"
    out.write_text("video\n")
    (tmp_path / "l.csv.cost-journal").write_text("[1]\n")
    r = cost("label", two_videos, "--model", tiny_model_dir, "-o", out)
    assert r.returncode == 2 and b"not a cost journal" in r.stderr and b"--overwrite" in r.stderr


def test_json_file_lists_input_problems_as_failed(two_videos, tiny_model_dir, tmp_path):
    out = tmp_path / "l.json"
    r = cost("label", two_videos, tmp_path / "nope.mp4", "--model", tiny_model_dir, "-o", out)
    assert r.returncode == 1
    failed = json.loads(out.read_text())["failed"]
    assert [f["video"].rsplit("/", 1)[-1] for f in failed] == ["nope.mp4"]


def test_truncated_matroska_is_never_a_silent_success(tmp_path, tiny_model_dir):
    d = tmp_path / "in"
    d.mkdir()
    full = make_video(tmp_path / "full.mkv", pattern_frames(200, 64, 80), codec="h264-lossless")
    data = full.read_bytes()
    (d / "cut.mkv").write_bytes(data[: int(len(data) * 0.6)])
    r = cost("label", d, "--model", tiny_model_dir)
    assert r.returncode == 1 and b"cut.mkv: truncated or corrupt" in r.stderr, r.stderr.decode()


def test_under_estimated_frame_count_labels_the_whole_video(tmp_path, tiny_model_dir):
    # 10 fps then 30 fps, concatenated into Matroska: OpenCV's count (duration x first fps) is low
    a = make_video(tmp_path / "a.mkv", pattern_frames(40, 64, 80, seed=1), fps=10, codec="h264-lossless")
    b = make_video(tmp_path / "b.mkv", pattern_frames(120, 64, 80, seed=2), fps=30, codec="h264-lossless")
    (tmp_path / "list.txt").write_text(f"file '{a}'\nfile '{b}'\n")
    d = tmp_path / "in"
    d.mkdir()
    from media import ffmpeg

    ffmpeg("-f", "concat", "-safe", "0", "-i", str(tmp_path / "list.txt"), "-c", "copy", str(d / "vfr.mkv"))
    r = cost("label", d, "--model", tiny_model_dir, "--no-merge")
    assert r.returncode == 0, r.stderr.decode()
    last = r.stdout.decode().splitlines()[-1].split(",")
    assert int(last[4]) == 160 and float(last[2]) > 7.9
