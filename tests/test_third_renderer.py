"""The third renderer (tests/third_renderer.py): the look family held out of the bundled model's
training and of every choice made about it (issue 23), and the acceptance test on it.

The renderer is checked from its own plan and from the pixels it writes: objects go the labelled
way at rates within the documented ranges, a still object leaves only the sensor noise, the
ground truth tiles each video and matches the frames written. Then the bundled model, with `cost
label` defaults, must label at least 90 % of the annotated time right on held-out videos of this
family, no moving class under 80 %.
"""

from __future__ import annotations

import csv
import importlib.util
import math
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

import third_renderer as tr

REPO = Path(__file__).resolve().parent.parent
# the bar of issue 23 (measured with the bundled stage-6 model on these 12 videos: 95.0 %, its
# weakest class `moving left` at 82 %)
TARGET = 0.90
CLASS_FLOOR = 0.80


def _bench():
    spec = importlib.util.spec_from_file_location("generalization", REPO / "benchmarks" / "generalization.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _builder(labels, seed=0, size=(160, 120), fps=30.0, seconds=(2.0, 2.0)):
    return tr._VideoBuilder(np.random.default_rng([seed, 0]), list(labels), size[0], size[1], fps, seconds)


@pytest.mark.parametrize("seed", range(6))
def test_the_plan_goes_the_labelled_way_within_the_documented_ranges(seed):
    vb = _builder(tr.CLASSES, seed=seed)
    states = list(vb.states())
    short = vb.short
    for seg in vb.scene.segs:
        first, last = states[seg.f0], states[seg.f1 - 1]
        t = (seg.f1 - 1 - seg.f0) / vb.fps
        if seg.label in tr._DIRS:
            dx, dy = tr._DIRS[seg.label]
            lo, hi = (v * short / 240 for v in tr.MOVE_PX_S)
            assert lo * 0.999 <= seg.speed <= hi * 1.001, (seg.label, seg.speed)
            if not seg.wrap:
                (x0, y0), (x1, y1) = first[1][0], last[1][0]
                assert (x1 - x0) * dx + (y1 - y0) * dy == pytest.approx(seg.speed * t, rel=1e-6)
        elif seg.label.startswith("rotating"):
            assert tr.ROT_DEG_S[0] * 0.999 <= seg.speed <= tr.ROT_DEG_S[1] * 1.001
            turn = math.degrees((last[3] - first[3]))
            sign = 1 if seg.label == "rotating clockwise" else -1
            assert turn * sign == pytest.approx(seg.speed * t, rel=1e-6)  # y points down: + is clockwise
        elif seg.label in ("growing", "shrinking"):
            ratio = last[2] / first[2]
            assert (ratio > 1) == (seg.label == "growing")
            assert 0.06 * short * 0.99 <= min(first[2], last[2]) and max(first[2], last[2]) <= 0.85 * short * 1.01
        else:
            assert first[1:] == last[1:]


def test_static_leaves_only_the_sensor_noise():
    vb = _builder(["static"], seed=3)
    frames = np.stack(list(vb.frames(np.random.default_rng(1)))).astype(np.float32)
    diff = frames[1:] - frames[:-1]
    # two independent Gaussian draws of sigma s differ by sigma s * sqrt(2)
    assert abs(float(diff.std()) - vb.scene.sigma * math.sqrt(2)) < 0.35 * vb.scene.sigma


def test_a_move_right_is_seen_in_the_pixels():
    """On a still scene the changed pixels' centroid goes right frame after frame (no wrap)."""
    for seed in range(20):
        vb = _builder(["moving right"], seed=seed, seconds=(1.0, 1.0))
        if not vb.scene.segs[0].wrap and vb.scene.background == "flat":
            break
    else:
        pytest.skip("no unwrapped move on a flat background in 20 seeds")
    frames = np.stack(list(vb.frames(np.random.default_rng(0)))).astype(np.float32)
    bg = cv2.resize(vb.bg, (vb.W, vb.H), interpolation=cv2.INTER_AREA)
    xs = []
    for f in frames[::6]:
        m = np.abs(f - bg).max(-1) > 25
        xs.append(float(np.nonzero(m)[1].mean()))
    assert all(b > a for a, b in zip(xs, xs[1:])), xs


def test_the_folder_ground_truth_tiles_each_video_and_is_deterministic(tmp_path):
    gt = tr.write_folder(tmp_path / "a", count=3, seed=7, size=(128, 96), seconds=(1.0, 1.5))
    again = tr.write_folder(tmp_path / "b", count=3, seed=7, size=(128, 96), seconds=(1.0, 1.5))
    assert gt.read_bytes() == again.read_bytes()
    for k in range(3):
        name = f"scene_{k:03d}.mp4"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    rows = list(csv.DictReader(open(gt, newline="")))
    by_video: dict[str, list[dict]] = {}
    for r in rows:
        by_video.setdefault(r["video"], []).append(r)
    for name, segs in by_video.items():
        assert segs[0]["start"] == "0.000"
        assert all(a["end"] == b["start"] and a["label"] != b["label"] for a, b in zip(segs, segs[1:]))
        cap = cv2.VideoCapture(str(tmp_path / "a" / name))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        assert float(segs[-1]["end"]) == pytest.approx(n / 30.0, abs=1e-3)
    details = list(csv.DictReader(open(tmp_path / "a" / "segments.csv", newline="")))
    assert [(d["video"], d["start"], d["label"]) for d in details] == [(r["video"], r["start"], r["label"])
                                                                       for r in rows]


def test_classes_are_balanced_over_a_folder():
    plan = tr._label_plan(np.random.default_rng(0), 12, 3)
    counts = Counter(lab for labels in plan for lab in labels)
    assert set(counts) == set(tr.CLASSES) and max(counts.values()) - min(counts.values()) <= 1


# the acceptance test of issue 23: the held-out family, `cost label` defaults

@pytest.mark.slow
def test_bundled_model_holds_up_on_the_held_out_family(tmp_path):
    bench = _bench()
    res = bench.evaluate("third_renderer", tmp_path, 12, bench.THIRD_SEED)
    print(f"third renderer: {res['accuracy']:.1%}; " + ", ".join(f"{c} {a:.0%}" for c, a in res["per_class"].items()))
    assert res["accuracy"] >= TARGET
    moving = {c: a for c, a in res["per_class"].items() if c != "static"}
    assert min(moving.values()) >= CLASS_FLOOR, moving
