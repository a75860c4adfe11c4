"""Finding videos: folders, globs, stdin, odd names, loops and duplicates."""

import io
import os

from cost_cli.sources import discover as _discover


def discover(*args, **kw):
    """Paths of the videos found (their spelling), and the problems."""
    found, problems = _discover(*args, **kw)
    return [f.path for f in found], problems


def touch(p):
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x")
    return p


def test_walk_order_hidden_and_extensions(tmp_path):
    touch(tmp_path / "b" / "z.MP4")
    touch(tmp_path / "b" / "a.mkv")
    touch(tmp_path / "a.webm")
    touch(tmp_path / ".hidden" / "x.mp4")
    touch(tmp_path / "notes.txt")
    touch(tmp_path / ".dot.mp4")
    videos, problems = discover([str(tmp_path)])
    assert [os.path.relpath(v, tmp_path) for v in videos] == ["a.webm", "b/a.mkv", "b/z.MP4"]
    assert problems == []


def test_symlink_loop_and_duplicates(tmp_path):
    v = touch(tmp_path / "d" / "v.mp4")
    os.symlink(tmp_path / "d", tmp_path / "d" / "loop")
    os.symlink(v, tmp_path / "alias.mp4")
    videos, _ = discover([str(tmp_path), str(v), str(tmp_path / "d")])
    assert len(videos) == 1  # the same file reached four ways is labeled once


def test_directory_named_like_a_video_is_walked(tmp_path):
    touch(tmp_path / "clip.mp4" / "inner.mov")
    videos, _ = discover([str(tmp_path)])
    assert videos == [str(tmp_path / "clip.mp4" / "inner.mov")]


def test_globs_missing_and_explicit_files(tmp_path):
    touch(tmp_path / "one.mp4")
    touch(tmp_path / "two.mp4")
    touch(tmp_path / "three.avi")
    touch(tmp_path / "explicit.dat")
    videos, problems = discover([str(tmp_path / "*.mp4"), str(tmp_path / "explicit.dat"),
                                 str(tmp_path / "nope.mp4"), str(tmp_path / "*.none")])
    assert [os.path.basename(v) for v in videos] == ["one.mp4", "two.mp4", "explicit.dat"]
    assert [os.path.basename(p.path) for p in problems] == ["nope.mp4", "*.none"]


def test_stdin_lines_and_nul(tmp_path):
    a, b = touch(tmp_path / "a b.mp4"), touch(tmp_path / "c\nd.mp4")
    videos, _ = discover(["-"], io.BytesIO(f"{a}\n".encode()), null=False)
    assert videos == [str(a)]
    videos, _ = discover(["-"], io.BytesIO(os.fsencode(a) + b"\0" + os.fsencode(b) + b"\0"), null=True)
    assert videos == [str(a), str(b)]


def test_non_utf8_names_round_trip(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.mp4"
    with open(raw, "wb") as f:
        f.write(b"x")
    videos, _ = discover([str(tmp_path)])
    assert os.fsencode(videos[0]) == raw
    videos, _ = discover(["-"], io.BytesIO(raw + b"\n"))
    assert os.fsencode(videos[0]) == raw


# -- what discovery cannot enter (issue 24): reported, never skipped in silence -------------------
# Root reads any folder whatever its mode; these run without root's override: as root with
# every capability dropped (setpriv), so the modes apply to the files' owner, or as a plain user.

import json
import shutil
import subprocess
import sys

import pytest

UNPRIVILEGED = ([] if os.geteuid() != 0 else
                ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if shutil.which("setpriv") else None)

DISCOVER = r"""
import json, sys
from cost_cli.sources import discover
found, problems = discover(sys.argv[1:])
print(json.dumps({"found": [f.path for f in found], "problems": [[p.path, p.reason] for p in problems]}))
"""


def discover_unprivileged(*args, cwd=None):
    if UNPRIVILEGED is None:
        pytest.skip("running as root without setpriv: root's override would read every folder")
    r = subprocess.run([*UNPRIVILEGED, sys.executable, "-c", DISCOVER, *args], capture_output=True, text=True,
                       cwd=cwd, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture
def locked_tree(tmp_path):
    touch(tmp_path / "ok" / "a.mp4")
    touch(tmp_path / "locked" / "b.mp4")
    touch(tmp_path / "locked" / "deeper" / "c.mp4")
    touch(tmp_path / "noexec" / "d.mp4")
    os.chmod(tmp_path / "locked", 0)
    os.chmod(tmp_path / "noexec", 0o644)  # listable, but nothing in it can be reached
    yield tmp_path
    os.chmod(tmp_path / "locked", 0o755)
    os.chmod(tmp_path / "noexec", 0o755)


def test_an_unreadable_folder_is_a_problem_not_a_silence(locked_tree):
    got = discover_unprivileged(str(locked_tree))
    assert got["found"] == [str(locked_tree / "noexec" / "d.mp4"), str(locked_tree / "ok" / "a.mp4")]
    assert got["problems"] == [[str(locked_tree / "locked"),
                                "cannot read this folder (permission denied): its videos are not labeled"]]


def test_a_glob_reports_what_it_cannot_enter(locked_tree):
    got = discover_unprivileged("**/*.mp4", cwd=locked_tree)
    assert "ok/a.mp4" in got["found"]
    assert [p[0] for p in got["problems"]] == ["locked"]


def test_a_named_file_behind_a_locked_folder_says_permission_denied(locked_tree):
    got = discover_unprivileged(str(locked_tree / "locked" / "b.mp4"))
    assert got == {"found": [], "problems": [[str(locked_tree / "locked" / "b.mp4"), "permission denied"]]}


def test_cost_label_reports_the_unreadable_folder(locked_tree, tiny_model_dir, tmp_path_factory):
    from media import make_video, pattern_frames

    if UNPRIVILEGED is None:
        pytest.skip("running as root without setpriv")
    make_video(locked_tree / "ok" / "real", pattern_frames(16, 64, 80), codec="h264")
    os.unlink(locked_tree / "ok" / "a.mp4")
    out = tmp_path_factory.mktemp("out")
    r = subprocess.run([*UNPRIVILEGED, sys.executable, "-m", "cost_cli", "label", str(locked_tree / "ok"),
                        str(locked_tree / "locked"), "--model", str(tiny_model_dir), "-o", str(out / "l.csv"),
                        "--errors", str(out / "e.jsonl")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    assert f"error: {locked_tree / 'locked'}: cannot read this folder (permission denied)" in r.stderr
    assert "labeled 1 video(s)" in r.stderr and "failed 1" in r.stderr
    errors = [json.loads(ln) for ln in (out / "e.jsonl").read_text().splitlines()]
    assert [e["video"] for e in errors] == [str(locked_tree / "locked")]
    assert (out / "l.csv").read_text().count("real.mp4") == 1
