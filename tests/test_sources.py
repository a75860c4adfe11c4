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
