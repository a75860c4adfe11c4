"""cost label end to end, in a subprocess: formats, tiling, timestamps, pipes, exit codes."""

import csv
import io
import json
import os
import shutil

import pytest

from conftest import VIDEO_SET, vfr_truth
import clirun

ENV = dict(os.environ, COST_DEBUG="")


def cost(*args, input=None, env=None, **kw):
    return clirun.cost(*args, input=input, env=env or ENV, **kw)


@pytest.fixture(scope="module")
def videos(video_set, tmp_path_factory):
    """A folder holding every test video (nested a little)."""
    root = tmp_path_factory.mktemp("label_in")
    for name, path in video_set.items():
        dest = root / ("sub" if name in ("vfr", "rotated") else "") / path.name
        dest.parent.mkdir(exist_ok=True)
        shutil.copy(path, dest)
    return root


def parse_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def expected_duration(name):
    if name == "vfr":
        return vfr_truth(50)[-1] + 0.08
    codec, n, _, fps, _, _ = VIDEO_SET.get(name, ("", 60, None, 25, None, None))
    return n / fps


def test_every_video_is_labeled_and_tiled(videos, tiny_model_dir):
    r = cost("label", videos, "--model", tiny_model_dir, "--topk", "3", "--no-merge")
    assert r.returncode == 0, r.stderr.decode()
    rows = parse_csv(r.stdout.decode())
    assert list(rows[0]) == ["video", "start", "end", "start_frame", "end_frame", "label", "score", "topk"]
    by_video: dict[str, list[dict]] = {}
    for row in rows:
        by_video.setdefault(row["video"], []).append(row)
    names = {os.path.splitext(os.path.basename(v))[0] for v in by_video}
    assert names == set(VIDEO_SET) | {"vfr", "rotated"}
    for video, segs in by_video.items():
        name = os.path.splitext(os.path.basename(video))[0]
        assert float(segs[0]["start"]) == 0.0 and int(segs[0]["start_frame"]) == 0
        for a, b in zip(segs, segs[1:]):  # no gap, no overlap
            assert a["end"] == b["start"] and a["end_frame"] == b["start_frame"]
        dur = expected_duration(name)
        assert abs(float(segs[-1]["end"]) - dur) <= 1 / 12.5 + 1e-3, (name, segs[-1]["end"], dur)
        for s in segs:
            top = s["topk"].split(";")
            assert len(top) == 3 and top[0].split(":")[0] == s["label"]
            assert 0 <= float(s["score"]) <= 1


def test_vfr_segment_times_are_stream_times(videos, tiny_model_dir):
    truth = vfr_truth(50)
    r = cost("label", videos / "sub" / "vfr.mkv", "--model", tiny_model_dir, "--no-merge", "-f", "jsonl")
    assert r.returncode == 0, r.stderr.decode()
    rows = [json.loads(line) for line in r.stdout.decode().splitlines()]
    for row in rows[1:]:  # each boundary is the start time of its frame, within one frame
        assert abs(row["start"] - truth[row["start_frame"]]) <= 0.08 + 1e-3


def test_output_is_deterministic_and_formats_agree(videos, tiny_model_dir, tmp_path):
    a = cost("label", videos, "--model", tiny_model_dir, "-o", tmp_path / "a.csv", "--workers", "2")
    b = cost("label", videos, "--model", tiny_model_dir, "-o", tmp_path / "b.csv", "--workers", "1",
             "--batch-size", "8")
    assert a.returncode == b.returncode == 0
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    j = cost("label", videos, "--model", tiny_model_dir, "-o", tmp_path / "c.json")
    assert j.returncode == 0, j.stderr.decode()
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["schema_version"] == 1 and doc["model"]["arch"] == "costb-tiny"
    assert doc["settings"]["stride"] == "span" and doc["failed"] == []
    rows = parse_csv((tmp_path / "a.csv").read_text())
    flat = [(v["video"], s["start"], s["label"]) for v in doc["videos"] for s in v["segments"]]
    assert flat == [(r["video"], float(r["start"]), r["label"]) for r in rows]
    for v in doc["videos"]:
        assert v["duration"] > 0 and v["fps"] > 0 and v["segments"][-1]["end"] == v["duration"]
    jl = cost("label", videos, "--model", tiny_model_dir, "-o", tmp_path / "d.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert jl.returncode == 0 and len(lines) == len(rows)
    assert set(lines[0]) == {"video", "start", "end", "start_frame", "end_frame", "label", "score", "topk"}
    assert isinstance(lines[0]["topk"], list) and set(lines[0]["topk"][0]) == {"label", "score"}


def test_stdin_and_stdout_pipeline(videos, tiny_model_dir):
    paths = sorted(str(p) for p in videos.rglob("*.mp4"))
    r = cost("label", "-", "--model", tiny_model_dir, "--format", "jsonl",
             input="\n".join(paths).encode() + b"\n")
    assert r.returncode == 0, r.stderr.decode()
    seen = [json.loads(line)["video"] for line in r.stdout.decode().splitlines()]
    assert sorted(set(seen)) == paths
    r0 = cost("label", "-0", "--model", tiny_model_dir, input=b"\0".join(p.encode() for p in paths) + b"\0")
    assert r0.returncode == 0 and sorted({row["video"] for row in parse_csv(r0.stdout.decode())}) == paths
    assert r0.stderr.decode().count("\n") <= 2  # a summary line, no progress bar off a terminal


def test_merge_is_default_and_tiles(videos, tiny_model_dir):
    merged = parse_csv(cost("label", videos / "h264.mp4", "--model", tiny_model_dir).stdout.decode())
    split = parse_csv(cost("label", videos / "h264.mp4", "--model", tiny_model_dir, "--no-merge").stdout.decode())
    assert len(merged) <= len(split)
    assert merged[0]["start"] == split[0]["start"] and merged[-1]["end"] == split[-1]["end"]
    assert len({r["label"] for r in merged}) == len(merged) or all(
        a["label"] != b["label"] for a, b in zip(merged, merged[1:]))


def test_exit_codes_and_one_line_errors(videos, tiny_model_dir, tmp_path):
    bad = tmp_path / "in"
    bad.mkdir()
    shutil.copy(videos / "h264.mp4", bad / "good.mp4")
    (bad / "broken.mp4").write_text("not a video")
    r = cost("label", bad, tmp_path / "missing.mp4", "--model", tiny_model_dir, "--errors", tmp_path / "err.jsonl")
    assert r.returncode == 1
    err = r.stderr.decode()
    assert "broken.mp4: cannot decode" in err and "missing.mp4: no such file or directory" in err
    assert "Traceback" not in err
    rows = parse_csv(r.stdout.decode())
    assert {os.path.basename(x["video"]) for x in rows} == {"good.mp4"}
    errors = [json.loads(line) for line in (tmp_path / "err.jsonl").read_text().splitlines()]
    assert {os.path.basename(e["video"]) for e in errors} == {"broken.mp4", "missing.mp4"}
    assert all(e["reason"] and e["error_class"] for e in errors)
    # usage errors: exit 2 before any work
    for args in (["--crops", "2"], ["--stride", "fast"], ["--format", "xml"], ["--overwrite"],
                 ["--model", tmp_path / "nope"], ["--device", "tpu"]):
        r = cost("label", bad / "good.mp4", "--model", tiny_model_dir, *args) if "--model" not in args else \
            cost("label", bad / "good.mp4", *args)
        assert r.returncode == 2, (args, r.stderr.decode())
        assert "Traceback" not in r.stderr.decode()


def test_three_crops_and_views(videos, tiny_model_dir):
    r = cost("label", videos / "h264.mp4", "--model", tiny_model_dir, "--crops", "3", "--views", "-f", "jsonl")
    assert r.returncode == 0, r.stderr.decode()
    row = json.loads(r.stdout.decode().splitlines()[0])
    assert set(row["views"]) == {"hw", "tw", "th"}
    assert sum(row["views"].values()) == pytest.approx(1.0, abs=1e-3)


def test_non_utf8_path_is_lossless(videos, tiny_model_dir, tmp_path):
    raw = os.fsencode(tmp_path) + b"/clip-\xff.mp4"
    shutil.copyfile(videos / "h264.mp4", raw)
    r = cost("label", tmp_path, "--model", tiny_model_dir)
    assert r.returncode == 0, r.stderr.decode()
    line = r.stdout.splitlines()[1]
    assert line.startswith(raw + b",")  # CSV keeps the name's exact bytes
    j = cost("label", tmp_path, "--model", tiny_model_dir, "-f", "jsonl")
    row = json.loads(j.stdout.decode("utf-8"))  # still valid UTF-8 JSON
    assert os.fsencode(row["video"]) == raw


def test_python_module_and_help():
    r = cost("--help")
    assert r.returncode == 0 and b"label" in r.stdout
    r = cost("label", "--help")
    assert r.returncode == 0 and b"--stride" in r.stdout


def test_the_bundled_synthetic_model_says_it_is_not_an_action_model(videos, tiny_model_dir):
    r = cost("label", videos / "h264.mp4")  # the bundled default: generated motions, not actions
    assert r.returncode == 0, r.stderr.decode()
    notes = [ln for ln in r.stderr.decode().splitlines() if "trained on generated videos" in ln]
    assert len(notes) == 1 and "cost download slowonly-r101-k400" in notes[0], r.stderr.decode()
    r = cost("label", videos / "h264.mp4", "-q")
    assert r.returncode == 0 and b"generated videos" not in r.stderr
    r = cost("label", videos / "h264.mp4", "--model", tiny_model_dir)  # a model of real classes
    assert r.returncode == 0 and b"generated videos" not in r.stderr
