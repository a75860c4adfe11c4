"""`cost features`: one .npy per video and a manifest, from real decoded video; what the classifier
sees (its logits from the files equal `cost label`'s scores); resume after a kill; shards merged;
Ray equal to local; errors and the lock."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import clirun
from media import make_video, pattern_frames

ENV = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
ENV.update(COST_DEBUG="", RAY_USAGE_STATS_ENABLED="0")
CODECS = ("h264", "hevc", "vp9", "mpeg4", "mjpeg")

try:
    import ray  # noqa: F401

    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False


def cost(*args, env=None):
    return clirun.cost(*args, env=env or ENV)


def start(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "cost_cli", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env or ENV, start_new_session=True)


def manifest(folder: Path, name: str = "manifest.jsonl") -> list[dict]:
    return [json.loads(line) for line in (folder / name).read_text().splitlines()]


def committed(folder: Path, name: str = "manifest.jsonl") -> int:
    jp = folder / (name + ".cost-journal")
    return jp.read_bytes().count(b"\n") - 1 if jp.exists() else -1


def wait_until(ready, timeout: float, what: str, p) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if p.poll() is not None:
            pytest.fail(f"the run ended before {what}: " + p.stderr.read().decode())
        if time.monotonic() > deadline:
            os.killpg(p.pid, signal.SIGKILL)
            pytest.fail(f"no {what} within {timeout:g} s")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """Five codecs, 1 to 4 windows of the tiny model (16 frames each), and two `clip.mp4` in two
    folders."""
    root = tmp_path_factory.mktemp("featvids") / "vids"
    root.mkdir()
    for i, codec in enumerate(CODECS):
        make_video(root / f"{codec}_{i}", pattern_frames(12 + 13 * i, 64, 80, seed=i), fps=25, codec=codec)
    for sub in ("a", "b"):
        (root / sub).mkdir()
        make_video(root / sub / "clip", pattern_frames(30, 64, 80, seed=ord(sub)), fps=25, codec="h264")
    return root


COMMON = ("--batch-size", "2", "--workers", "1", "-q")


def features(videos, model, out, *extra, env=None):
    return cost("features", videos, "--model", model, "--out", out, *COMMON, *extra, env=env)


@pytest.fixture(scope="module")
def reference(videos, tiny_model_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("featref") / "feats"
    r = features(videos, tiny_model_dir, out)
    assert r.returncode == 0, r.stderr.decode()
    return out


def test_one_npy_per_video_and_the_manifest(videos, tiny_model_dir, reference, tmp_path):
    entries = manifest(reference)
    assert len(entries) == 7
    files = sorted(p.name for p in reference.glob("*.npy"))
    assert files == sorted(e["file"] for e in entries)  # one file per video, nothing else
    assert len({e["file"] for e in entries if e["video"].endswith("clip.mp4")}) == 2  # names collide: two files
    assert {e["file"].split("-")[0] for e in entries} >= {"h264_0", "mjpeg_4", "clip"}
    sha = json.loads((tiny_model_dir / "config.json").read_text())  # the model folder is the source
    for e in entries:
        a = np.load(reference / e["file"])
        assert a.dtype == np.float32 and a.shape == (e["windows"], 512) == (e["windows"], e["dims"])
        assert np.isfinite(a).all() and a.std() > 0
        assert e["id"] == os.path.realpath(e["video"]) and e["dtype"] == "float32"
        n = e["windows"]
        assert len(e["start"]) == len(e["end"]) == len(e["start_frame"]) == len(e["end_frame"]) == n
        assert e["start"][0] == 0 and e["end"][-1] == e["duration"] and e["start"][1:] == e["end"][:-1]
        assert e["start_frame"][0] == 0 and e["end_frame"][-1] == e["frames"]
        assert e["first_frame"][0] == 0 and all(f + 16 <= e["frames"] for f in e["first_frame"] if e["frames"] >= 16)
        assert e["model"]["weights_sha256"] and e["model"]["arch"] == sha["arch"]
        assert e["settings"]["dims"] == 512 and e["settings"]["clip_len"] == 8 and e["settings"]["stride"] == "span"
    assert [e["windows"] for e in entries if e["video"].endswith(("h264_0.mp4", "mjpeg_4.mov"))] == [1, 4]
    # the windows' times and frames are cost label --no-merge's rows
    r = cost("label", videos, "--model", tiny_model_dir, "--no-merge", "--format", "jsonl", "-b", "2", "-q")
    assert r.returncode == 0, r.stderr.decode()
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    got = [(e["video"], s, t, a, b) for e in entries
           for s, t, a, b in zip(e["start"], e["end"], e["start_frame"], e["end_frame"])]
    assert got == [(x["video"], x["start"], x["end"], x["start_frame"], x["end_frame"]) for x in rows]


def test_the_classifier_applied_to_the_features_gives_the_labels_scores(videos, tiny_model_dir, reference):
    """softmax(fc_cls(features)) from the files is what `cost label --no-merge` scores (to its
    four decimals), and the argmax its label: `cost features` is what the classifier sees."""
    from safetensors.numpy import load_file

    w = load_file(str(tiny_model_dir / "model.safetensors"))
    weight, bias = w["cls_head.fc_cls.weight"].astype(np.float64), w["cls_head.fc_cls.bias"].astype(np.float64)
    labels = (tiny_model_dir / "labels.txt").read_text().split("\n")[:5]
    r = cost("label", videos, "--model", tiny_model_dir, "--no-merge", "--format", "jsonl", "--topk", "5",
             "-b", "2", "-q")
    assert r.returncode == 0, r.stderr.decode()
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    feats = np.concatenate([np.load(reference / e["file"]) for e in manifest(reference)]).astype(np.float64)
    logits = feats @ weight.T + bias
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    assert len(rows) == len(probs) > 7
    for row, p in zip(rows, probs):
        scores = {t["label"]: t["score"] for t in row["topk"]}
        assert np.abs(np.array([scores[lab] for lab in labels]) - p).max() <= 6e-5
        assert row["label"] == labels[int(p.argmax())]


def test_float16_and_changed_settings(videos, tiny_model_dir, reference, tmp_path):
    out = tmp_path / "half"
    r = features(videos, tiny_model_dir, out, "--dtype", "float16")
    assert r.returncode == 0, r.stderr.decode()
    for e, ref in zip(manifest(out), manifest(reference)):
        half, full = np.load(out / e["file"]), np.load(reference / ref["file"])
        assert e["file"] == ref["file"] and half.dtype == np.float16 and e["dtype"] == "float16"
        np.testing.assert_allclose(half.astype(np.float32), full, rtol=2e-3, atol=1e-3)
    before = (out / "manifest.jsonl").read_bytes()
    r = features(videos, tiny_model_dir, out)  # float32 into a float16 run's folder
    assert r.returncode == 2 and b"other settings (dtype: 'float16' -> 'float32')" in r.stderr, r.stderr
    assert (out / "manifest.jsonl").read_bytes() == before
    r = features(videos, tiny_model_dir, out, "--dtype", "float16")  # the same: all done, nothing doubled
    assert r.returncode == 0 and (out / "manifest.jsonl").read_bytes() == before
    r = features(videos, tiny_model_dir, out, "--overwrite", "--stride", "8f")
    assert r.returncode == 0, r.stderr.decode()
    entries = manifest(out)
    assert sorted(p.name for p in out.glob("*.npy")) == sorted(e["file"] for e in entries)
    assert sum(e["windows"] for e in entries) > sum(e["windows"] for e in manifest(reference))


@pytest.mark.parametrize("point", ["mid-run", "features-renamed"])
def test_a_killed_run_resumes_to_the_uninterrupted_files(videos, tiny_model_dir, reference, tmp_path, point):
    """SIGKILL mid-run (videos committed, others under way), or just after a file was renamed into
    place and before its manifest line: the rerun finishes with the uninterrupted run's manifest
    and files, each video once, no temporary left."""
    out = tmp_path / "feats"
    if point == "mid-run":
        fault, ready = "hang=mpeg4_3", (lambda: committed(out) >= 3)
    else:
        fault = "stall=features-renamed"
        ready = (lambda: committed(out) == 0 and len(list(out.glob("*.npy"))) == 1)
    p = start("features", videos, "--model", tiny_model_dir, "--out", out, *COMMON,
              env=dict(ENV, COST_FAULT_INJECT=fault))
    wait_until(ready, 120, point, p)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    listed = manifest(out) if (out / "manifest.jsonl").exists() else []
    for e in listed:  # whatever is listed is whole
        assert np.load(out / e["file"]).shape[0] == e["windows"]
    r = features(videos, tiny_model_dir, out)
    assert r.returncode == 0, r.stderr.decode()
    assert (out / "manifest.jsonl").read_bytes() == (reference / "manifest.jsonl").read_bytes()
    for e in manifest(reference):
        assert (out / e["file"]).read_bytes() == (reference / e["file"]).read_bytes()
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in reference.iterdir())


def test_a_rerun_says_what_it_kept_in_its_own_words(videos, tiny_model_dir, reference, tmp_path):
    """Resuming a features folder says the videos' features are written (not 'labeled')."""
    import shutil

    out = tmp_path / "feats"
    shutil.copytree(reference, out)
    r = cost("features", videos, "--model", tiny_model_dir, "--out", out, "--batch-size", "2", "--workers", "1")
    assert r.returncode == 0, r.stderr.decode()
    n = len(manifest(reference))
    said = f"resuming {out / 'manifest.jsonl'}: {n} video(s) already done (their features written)"
    assert said.encode() in r.stderr, r.stderr
    assert b"labeled" not in r.stderr and b"rows" not in r.stderr


def test_shards_write_one_folder_and_merge_into_the_whole(videos, tiny_model_dir, reference, tmp_path):
    out = tmp_path / "feats"
    for i in (1, 2):
        r = features(videos, tiny_model_dir, out, "--shard", f"{i}/2")
        assert r.returncode == 0, r.stderr.decode()
    parts = [manifest(out, f"manifest.{i}-of-2.jsonl") for i in (1, 2)]
    assert len(parts[0]) + len(parts[1]) == 7 and parts[0] and parts[1]
    # a shard with other settings may not join the folder
    r = features(videos, tiny_model_dir, out, "--shard", "1/3", "--dtype", "float16")
    assert r.returncode == 2 and b"manifest.1-of-2.jsonl in the same folder was made with other settings" in r.stderr
    # merged elsewhere, the manifest's file names would lead nowhere: refused
    r = cost("merge", out / "manifest.1-of-2.jsonl", out / "manifest.2-of-2.jsonl", "--out", tmp_path / "m.jsonl")
    assert r.returncode == 2 and b"merge it into that folder" in r.stderr, r.stderr
    r = cost("merge", out / "manifest.1-of-2.jsonl", out / "manifest.2-of-2.jsonl", "--out", out / "manifest.jsonl")
    assert r.returncode == 0, r.stderr.decode()
    # the unsharded run's lines (sorted by path here; the folder walk lists a folder's files first)
    merged = (out / "manifest.jsonl").read_bytes().splitlines()
    assert merged == sorted(merged, key=lambda line: json.loads(line)["video"].encode())
    assert sorted(merged) == sorted((reference / "manifest.jsonl").read_bytes().splitlines())
    for e in manifest(out):
        assert (out / e["file"]).read_bytes() == (reference / e["file"]).read_bytes()
    r = cost("features", videos, "--model", tiny_model_dir, "--out", out, *COMMON[:-1])
    assert r.returncode == 0 and b"7 video(s) already" in r.stderr, r.stderr.decode()


@pytest.mark.skipif(not HAVE_RAY, reason="Ray is not installed (pip install 'cost-cli[ray]')")
@pytest.mark.slow
def test_ray_equals_local(videos, tiny_model_dir, reference, tmp_path):
    out = tmp_path / "ray"
    r = subprocess.run([sys.executable, "-m", "cost_cli", "features", str(videos), "--model", str(tiny_model_dir),
                        "--out", str(out), *COMMON, "--engine", "ray"], capture_output=True, env=ENV)
    assert r.returncode == 0, r.stderr.decode()
    assert (out / "manifest.jsonl").read_bytes() == (reference / "manifest.jsonl").read_bytes()
    for e in manifest(reference):
        np.testing.assert_allclose(np.load(out / e["file"]), np.load(reference / e["file"]), rtol=1e-5, atol=1e-6)


def test_bad_inputs_fail_one_line_each_and_retry(videos, tiny_model_dir, tmp_path):
    d = tmp_path / "in"
    shutil.copytree(videos / "a", d)
    (d / "broken.mp4").write_bytes(b"not a video at all" * 10)
    out = tmp_path / "feats"
    r = features(d, tiny_model_dir, out, "--errors", tmp_path / "e.jsonl")
    err = r.stderr.decode()
    assert r.returncode == 1 and err.count("error:") == 1 and "broken.mp4" in err, err
    assert [e["video"].rsplit("/", 1)[-1] for e in manifest(out)] == ["clip.mp4"]
    assert json.loads((tmp_path / "e.jsonl").read_text())["video"].endswith("broken.mp4")
    shutil.copy(d / "clip.mp4", d / "broken.mp4")  # repaired
    r = features(d, tiny_model_dir, out, "--retry-failed")
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(e["video"].rsplit("/", 1)[-1] for e in manifest(out)) == ["broken.mp4", "clip.mp4"]
    assert len(list(out.glob("*.npy"))) == 2


@pytest.mark.parametrize("args,needle", [
    (["--dtype", "int8"], "--dtype 'int8': expected float32 or float16"),
    (["--crops", "2"], "--crops must be 1 or 3"),
    (["--shard", "3/2"], "--shard 3/2"),
    (["--model", "no-such-model"], "no-such-model"),
])
def test_usage_errors_are_one_line_and_leave_no_folder(videos, tmp_path, args, needle):
    out = tmp_path / "feats"
    r = cost("features", videos, "--out", out, *args)
    assert r.returncode == 2 and needle.encode() in r.stderr, r.stderr
    assert b"Traceback" not in r.stderr and not out.exists()
    (tmp_path / "file").write_text("x")
    r = cost("features", videos, "--out", tmp_path / "file")
    assert r.returncode == 2 and b"exists and is not a folder" in r.stderr
    r = cost("features", videos, "--out", tmp_path / "no" / "such")
    assert r.returncode == 2 and b"does not exist" in r.stderr


def test_one_writer_at_a_time(videos, tiny_model_dir, tmp_path):
    out = tmp_path / "feats"
    p = start("features", videos, "--model", tiny_model_dir, "--out", out, *COMMON,
              env=dict(ENV, COST_FAULT_INJECT="stall=features-renamed"))
    try:
        wait_until(lambda: len(list(out.glob("*.npy"))) == 1, 120, "the first file", p)
        r = features(videos, tiny_model_dir, out)
        assert r.returncode == 1, r.stderr.decode()
        assert f"another cost features run is writing it (pid {p.pid})".encode() in r.stderr, r.stderr
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
