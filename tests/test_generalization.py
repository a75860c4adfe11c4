"""The second renderer (tests/second_renderer.py) and the generalisation benchmark built on it.

The renderer is checked from what it draws: the main object's coverage mask, rendered alongside
the frames, is measured with methods of this file (phase correlation on the stage, which is a
torus for moving objects; a rotation search with OpenCV's own angle convention; areas), at the
slowest and fastest end of every range. Then the videos it writes, the ground truth, and the
benchmark's scoring on hand-computed rows. Last, the acceptance test of issue 16: the bundled
model with `cost label` defaults reaches 95 % segment-level accuracy on held-out videos of both
the training generator and this renderer.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import second_renderer as sr

REPO = Path(__file__).resolve().parent.parent
TARGET = 0.95
SIZE = (100, 100)  # stage: 86 px from (7, 7), whole pixels, so the mask's stage crop is exactly the torus


def _bench():
    spec = importlib.util.spec_from_file_location("generalization", REPO / "benchmarks" / "generalization.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _stage_crop(video: sr.Video) -> np.ndarray:
    x0, y0, side = (int(round(v)) for v in video.stage)
    assert np.allclose(video.stage, (x0, y0, side), atol=1e-6)
    return video.masks[:, y0:y0 + side, x0:x0 + side]


def _cyclic_shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(dx, dy) such that b is a moved by (dx, dy) on a torus: phase correlation, sub-pixel by a
    parabola through the peak and its neighbours."""
    fa, fb = np.fft.fft2(a), np.fft.fft2(b)
    cross = fb * np.conj(fa)
    r = np.fft.ifft2(cross / (np.abs(cross) + 1e-9)).real
    py, px = np.unravel_index(np.argmax(r), r.shape)
    n_y, n_x = r.shape

    def refine(m1: float, m0: float, p1: float) -> float:
        den = m1 - 2 * m0 + p1
        return 0.0 if den == 0 else 0.5 * (m1 - p1) / den

    dx = px + refine(r[py, (px - 1) % n_x], r[py, px], r[py, (px + 1) % n_x])
    dy = py + refine(r[(py - 1) % n_y, px], r[py, px], r[(py + 1) % n_y, px])
    return ((dx + n_x / 2) % n_x - n_x / 2, (dy + n_y / 2) % n_y - n_y / 2)


def _turn(a: np.ndarray, b: np.ndarray) -> float:
    """The angle (degrees, OpenCV's sign: positive is counterclockwise on screen) that best turns
    mask a about its centroid into mask b."""
    import cv2

    ys, xs = np.nonzero(a > 0)
    w = a[ys, xs]
    c = (float((xs * w).sum() / w.sum()), float((ys * w).sum() / w.sum()))
    best = None
    for ang in np.arange(-60, 60.01, 0.5):
        m = cv2.getRotationMatrix2D(c, float(ang), 1.0)
        err = float(np.abs(cv2.warpAffine(a, m, a.shape[::-1], flags=cv2.INTER_LINEAR) - b).sum())
        if best is None or err < best[0]:
            best = (err, float(ang))
    return best[1]


# --------------------------------------------------------------------------------------------
# the renderer


def test_same_seed_same_pixels_other_seed_other_pixels():
    kw = dict(size=(128, 96), frames_per_segment=[12, 12, 12])
    a, b = sr.render_video(7, **kw), sr.render_video(7, **kw)
    assert np.array_equal(a.frames, b.frames)
    assert [s.label for s in a.segments] == [s.label for s in b.segments]
    c = sr.render_video(8, **kw)
    assert not np.array_equal(a.frames, c.frames)


MOVES = {"moving left": (-1, 0), "moving right": (1, 0), "moving up": (0, -1), "moving down": (0, 1)}


@pytest.mark.parametrize("rate", ["min", "max"])
@pytest.mark.parametrize("label", list(MOVES))
def test_moves_go_the_labelled_way_at_the_documented_rate(label, rate):
    per_frame = sr.SPEED[0] if rate == "min" else sr.SPEED[1]
    for seed in (1, 2):  # two shapes and sizes
        v = sr.render_clip(label, seed, frames=20, size=SIZE, rate=rate, noise=False, masks=True)
        side = v.stage[2]
        m = _stage_crop(v)
        k = 16 if rate == "min" else 3  # a few pixels of travel, well under half the stage
        dx, dy = np.mean([_cyclic_shift(m[t], m[t + k]) for t in range(0, 4)], axis=0)
        ux, uy = MOVES[label]
        along, across = dx * ux + dy * uy, abs(dx * uy - dy * ux)
        assert along == pytest.approx(per_frame * side * k, rel=0.05), (label, rate, seed, dx, dy)
        assert across < 0.3
    if rate == "min":  # the slowest move still covers 6 % of the view per model window
        assert along / k * sr.WINDOW / side >= 0.06 * 0.95


@pytest.mark.parametrize("rate", ["min", "max"])
@pytest.mark.parametrize("label", ["rotating clockwise", "rotating counterclockwise"])
def test_turns_go_the_labelled_way_at_the_documented_rate(label, rate):
    per_frame = sr.SPIN[0] if rate == "min" else sr.SPIN[1]
    for seed, shape in ((3, "arrow"), (4, "glyph"), (5, "dot ring"), (6, "key")):
        v = sr.render_clip(label, seed, frames=20, size=SIZE, rate=rate, noise=False, masks=True,
                           shape=shape, start_diameter=0.5)
        k = max(1, round(25 / per_frame))  # about 25 degrees apart
        ang = _turn(v.masks[0], v.masks[k])
        # clockwise on screen is a negative angle in OpenCV's convention
        expected = -per_frame * k if label == "rotating clockwise" else per_frame * k
        assert ang == pytest.approx(expected, abs=2.0), (label, rate, shape, ang)


@pytest.mark.parametrize("rate", ["min", "max"])
@pytest.mark.parametrize("label", ["growing", "shrinking"])
def test_growth_goes_the_labelled_way_at_the_documented_rate(label, rate):
    per_window = 1.15 if rate == "min" else 1.7
    for seed in (7, 8):
        v = sr.render_clip(label, seed, frames=33, size=SIZE, rate=rate, noise=False, masks=True,
                           start_diameter=0.25 if label == "growing" else 0.9)
        assert not v.segments[0].zoom
        area = v.masks.sum(axis=(1, 2))
        ratio = math.sqrt(area[16] / area[0])  # diameter ratio over one model window
        assert ratio == pytest.approx(per_window if label == "growing" else 1 / per_window, rel=0.03)
        steps = np.diff(area)
        assert (steps > 0).all() if label == "growing" else (steps < 0).all()


def test_static_is_static():
    v = sr.render_clip("static", 9, frames=10, size=SIZE, noise=False, masks=True)
    assert np.array_equal(v.frames[0], v.frames[-1]) and np.array_equal(v.masks[0], v.masks[-1])
    assert v.masks[0].sum() > 50  # and there is an object to see


def test_only_the_main_object_moves():
    """Distractors, occluders and background never change: outside where the main object ever is,
    every frame is the same (noise off)."""
    seen = Counter()
    for seed in range(10, 16):
        v = sr.render_video(seed, size=(144, 112), frames_per_segment=[10, 10, 10], noise=False, masks=True)
        seen["distractors"] += v.info["distractors"] > 0
        seen["occluder"] += v.info["occluder"]
        ever = v.masks.max(axis=0) > 0
        import cv2

        ever = cv2.dilate(ever.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        still = ~ever
        assert still.sum() > 0.3 * still.size
        assert (v.frames[:, still] == v.frames[0, still]).all(), seed
        moving = np.abs(v.frames[1:].astype(int) - v.frames[:-1]).max(axis=-1) > 0
        assert moving[:, ever].any()  # the main object does move somewhere
    assert seen["distractors"] >= 3


def test_growth_planning_keeps_one_object_in_range():
    """Sizes stay in SIZE_RANGE for every segment that is not a zoom; a zoom ends on one whole copy
    within the next segment's range; zooms happen only to growth."""
    zooms = growth = 0
    for seed in range(300):
        rng = np.random.default_rng(seed)
        labels = sr.balanced_labels(rng, 1, 3)[0]
        fps = float(rng.choice(sr.HELD_OUT_FPS))
        frames = [int(round(rng.uniform(3, 6) * fps)) for _ in labels]
        plans, states = sr.plan_segments(rng, labels, frames, (0.0, 0.0, 100.0))
        assert [p.end - p.start for p in plans] == frames
        for j, p in enumerate(plans):
            d = states[p.start:p.end, 3] / 100
            growth += p.label in ("growing", "shrinking")
            if p.zoom:
                zooms += 1
                assert p.label in ("growing", "shrinking")
                if j + 1 < len(plans):
                    nxt = states[plans[j + 1].start, 3] / 100
                    copies = sr._zoom_copies(math.log(nxt))
                    assert len(copies) == 1 and copies[0][1] >= 1
                    lo, hi = sr.SIZE_RANGE[plans[j + 1].label]
                    assert lo - 1e-9 <= nxt <= hi + 1e-9
            else:
                lo, hi = sr.SIZE_RANGE[p.label]
                assert d.min() >= lo - 1e-9 and d.max() <= hi + 1e-9, (p, d.min(), d.max())
    assert 0.3 < zooms / growth < 0.7  # the deliberate share plus the unavoidable ones


def test_balanced_labels():
    rng = np.random.default_rng(0)
    videos = sr.balanced_labels(rng, 8, 3)
    counts = Counter(lab for v in videos for lab in v)
    assert set(counts) == set(sr.CLASSES) and max(counts.values()) - min(counts.values()) <= 1
    for v in videos:
        assert all(a != b for a, b in zip(v, v[1:]))
        assert v.count("growing") <= 1 and v.count("shrinking") <= 1


def test_written_folder_ground_truth_tiles_each_video(tmp_path):
    import cv2

    truth = sr.write_folder(tmp_path, count=2, seed=5, seconds=(3.0, 3.3))
    rows = list(csv.DictReader(open(truth, newline="")))
    assert list(rows[0]) == ["video", "start", "end", "label"]
    details = list(csv.DictReader(open(tmp_path / "segments.csv", newline="")))
    assert [(d["video"], d["start"], d["end"], d["label"]) for d in details] == \
        [(r["video"], r["start"], r["end"], r["label"]) for r in rows]
    videos = sorted({r["video"] for r in rows})
    assert videos == [f"scene_{k:03d}.mp4" for k in range(2)]
    for name in videos:
        seg = [r for r in rows if r["video"] == name]
        assert len(seg) == 3 and float(seg[0]["start"]) == 0.0
        for a, b in zip(seg, seg[1:]):
            assert a["end"] == b["start"] and a["label"] != b["label"]
        for r in seg:
            assert r["label"] in sr.CLASSES
            assert 3.0 - 0.05 <= float(r["end"]) - float(r["start"]) <= 3.3 + 0.05
        cap = cv2.VideoCapture(str(tmp_path / name))
        fps, n = cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        cap.release()
        assert fps in sr.HELD_OUT_FPS and (w, h) in sr.HELD_OUT_SIZES
        assert float(seg[-1]["end"]) == pytest.approx(n / fps, abs=0.001)


@pytest.mark.parametrize("codec", ["mp4v", "mjpg", "h264"])
@pytest.mark.parametrize("fps,size", [(12.0, (160, 160)), (60.0, (224, 128)), (24.0, (144, 192))])
def test_videos_open_with_opencv(tmp_path, codec, fps, size):
    import cv2

    if codec == "h264" and shutil.which("ffmpeg") is None:
        pytest.skip("needs the ffmpeg binary")
    v = sr.render_video(11, fps=fps, size=size, frames_per_segment=[6, 6, 6])
    path = sr.write_video(tmp_path / f"v{sr.CODECS[codec]}", v.frames, fps, codec)
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened()
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(fps, rel=1e-3)
    got = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        got.append(f[..., ::-1])
    cap.release()
    assert len(got) == 18 and got[0].shape == (size[1], size[0], 3)
    assert np.abs(np.stack(got).astype(int) - v.frames).mean() < 8  # lossy, but the same pictures


def test_durations_follow_the_frame_rate():
    for fps in (12.0, 60.0):
        v = sr.render_video(3, fps=fps, size=(64, 64), seconds=(3.0, 3.0), rate="max")
        assert [s.end - s.start for s in v.segments] == [round(3 * fps)] * 3
        assert v.truth()[-1][1] == pytest.approx(9.0)


# --------------------------------------------------------------------------------------------
# the benchmark


def test_score_on_hand_computed_rows():
    bench = _bench()
    truth = [{"video": "a.mp4", "start": "0", "end": "4", "label": "static"},
             {"video": "a.mp4", "start": "4", "end": "10", "label": "growing"},
             {"video": "b.mp4", "start": "0", "end": "5", "label": "moving up"}]
    pred = [{"video": "/x/a.mp4", "start": "0", "end": "3", "label": "static"},
            {"video": "/x/a.mp4", "start": "3", "end": "6", "label": "shrinking"},
            {"video": "/x/a.mp4", "start": "6", "end": "10", "label": "growing"},
            {"video": "/x/b.mp4", "start": "0", "end": "4", "label": "moving up"}]  # b's last second: unlabeled
    r = bench.score(truth, pred)
    # right: static 3 + growing 4 + moving up 4 = 11 of 15
    assert r["accuracy"] == pytest.approx(11 / 15)
    assert r["per_class"] == pytest.approx({"static": 3 / 4, "moving up": 4 / 5, "growing": 4 / 6})
    assert list(r["per_class"]) == ["static", "moving up", "growing"]  # labels.txt order
    assert r["per_video"] == pytest.approx({"a.mp4": 7 / 10, "b.mp4": 4 / 5})
    assert r["confusion"]["growing"] == pytest.approx({"growing": 4.0, "shrinking": 2.0})
    assert r["confusion"]["static"] == pytest.approx({"static": 3.0, "shrinking": 1.0})
    assert r["confusion"]["moving up"] == pytest.approx({"moving up": 4.0, bench.UNLABELED: 1.0})
    assert r["seconds"] == pytest.approx(15.0)


@pytest.mark.slow  # five `cost` processes (about 30 s on 2 cores)
def test_benchmark_command_line(tmp_path, tiny_model_dir):
    """The interface the training side calls: --model PATH --videos N --json, one JSON object."""
    r = subprocess.run([sys.executable, str(REPO / "benchmarks" / "generalization.py"), "--model", str(tiny_model_dir),
                        "--videos", "1", "--seconds", "1-1.5", "--json", "--keep", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["videos"] == 1 and out["model"] == str(tiny_model_dir)
    for name in ("generator", "second_renderer"):
        res = out[name]
        assert 0.0 <= res["accuracy"] <= 1.0
        assert set(res["per_class"]) <= set(sr.CLASSES)
        assert sum(sum(row.values()) for row in res["confusion"].values()) == pytest.approx(res["seconds"], abs=0.01)
        assert len(res["per_video"]) == 1
    assert out["generator"]["seed"] == 20250917 and out["second_renderer"]["seed"] == sr.DEFAULT_SEED
    assert "speed" in out["second_renderer"]["breakdown"]
    # an unusable model: one error line, exit 2, before any video is made
    bad = subprocess.run([sys.executable, str(REPO / "benchmarks" / "generalization.py"), "--model",
                          str(tmp_path / "nope"), "--keep", str(tmp_path / "bad")], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and bad.stdout == "", bad.stderr
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "nope" in bad.stderr
    assert not (tmp_path / "bad").exists()


# --------------------------------------------------------------------------------------------
# the acceptance test of issue 16


@pytest.mark.slow
@pytest.mark.parametrize("renderer", [
    "generator",
    "second_renderer",
])
def test_bundled_model_holds_up_on_both_renderers(tmp_path, renderer):
    bench = _bench()
    seed = bench.GENERATOR_SEED if renderer == "generator" else bench.RENDERER_SEED
    res = bench.evaluate(renderer, tmp_path, 8, seed)
    print(f"{renderer}: {res['accuracy']:.1%}; " + ", ".join(f"{c} {a:.0%}" for c, a in res["per_class"].items()))
    assert res["accuracy"] >= TARGET


def test_broad_selection_set(tmp_path):
    """The broad selection set: videos of the training generator's broad variety in the wide and
    tall sizes it names, at its frame rate, with ground truth that tiles each video with three
    motions, and the same set again for the same seed."""
    import cv2

    bench = _bench()
    truth = bench.make_videos("broad", tmp_path / "a", 4, 5, seconds=(0.5, 0.8))
    rows = list(csv.DictReader(open(truth, newline="")))
    videos = sorted({r["video"] for r in rows})
    assert videos == [f"broad_{i:03d}.mp4" for i in range(4)]
    for i, name in enumerate(videos):
        cap = cv2.VideoCapture(str(tmp_path / "a" / name))
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        frames, fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
        cap.release()
        assert size == bench.BROAD_SIZES[i] and fps == pytest.approx(bench.BROAD_FPS)
        mine = [r for r in rows if r["video"] == name]
        assert len(mine) == 3 and float(mine[0]["start"]) == 0.0
        assert all(float(a["end"]) == float(b["start"]) and a["label"] != b["label"] for a, b in zip(mine, mine[1:]))
        assert float(mine[-1]["end"]) == pytest.approx(frames / fps, abs=1e-3)
        assert all(0.5 - 1e-6 <= float(r["end"]) - float(r["start"]) <= 0.8 + 1e-6 for r in mine)
    again = bench.make_videos("broad", tmp_path / "b", 4, 5, seconds=(0.5, 0.8))
    assert again.read_text() == truth.read_text()


@pytest.mark.slow  # four `cost label` runs of a tiny model (about 20 s on 2 cores)
def test_sets_are_scored_pooled_and_each_on_its_own(tmp_path, tiny_model_dir):
    """--sets K: one set per seed, every video of every set counted once in the pooled figures,
    and each set's own figures equal to a run of that seed alone."""
    bench = _bench()
    kw = dict(model=str(tiny_model_dir), seconds=(1.0, 1.5), smooth=0.0)
    pooled = bench.evaluate_sets("third_renderer", tmp_path / "pooled", 2, [5, 6], **kw)
    alone = {s: bench.evaluate("third_renderer", tmp_path / f"alone{s}", 2, s, **kw) for s in (5, 6)}
    assert pooled["seeds"] == [5, 6] and "seed" not in pooled
    lo, hi = pooled["intervals"]["overall"]
    assert lo <= pooled["accuracy"] <= hi
    assert sorted(pooled["per_video"]) == sorted(f"{s}_{v}" for s in (5, 6) for v in alone[s]["per_video"])
    assert pooled["seconds"] == pytest.approx(sum(a["seconds"] for a in alone.values()))
    for s, a in alone.items():
        assert pooled["per_seed"][str(s)]["accuracy"] == pytest.approx(a["accuracy"])
        assert pooled["per_seed"][str(s)]["per_class"] == pytest.approx(a["per_class"])
    right = sum(a["accuracy"] * a["seconds"] for a in alone.values())
    assert pooled["accuracy"] == pytest.approx(right / pooled["seconds"])
    for c in pooled["class_seconds"]:
        got = sum(a["per_class"].get(c, 0.0) * a["class_seconds"].get(c, 0.0) for a in alone.values())
        assert pooled["per_class"][c] * pooled["class_seconds"][c] == pytest.approx(got)
    # the renderer's breakdown pools too: its segments are the two sets' together
    segs = lambda r: sum(g["segments"] for g in r["breakdown"]["speed"].values())  # noqa: E731
    assert segs(pooled) == segs(alone[5]) + segs(alone[6]) > 0
    for factor, groups in pooled["breakdown"].items():  # and its right seconds (so the details were matched)
        for value, grp in groups.items():
            got = sum(a["breakdown"][factor].get(value, {"accuracy": 0.0, "seconds": 0.0})["accuracy"]
                      * a["breakdown"][factor].get(value, {"seconds": 0.0})["seconds"] for a in alone.values())
            assert grp["accuracy"] * grp["seconds"] == pytest.approx(got, abs=0.02), (factor, value)
    # one seed: exactly evaluate's result
    one = bench.evaluate_sets("third_renderer", tmp_path / "one", 2, [5], **kw)
    assert one["seed"] == 5 and one["accuracy"] == pytest.approx(alone[5]["accuracy"])


def test_intervals_bootstrap_over_videos():
    bench = _bench()
    # four copies of one video: every resample is that video, so the band is its figure exactly
    truth, pred = [], []
    for v in ("a", "b", "c", "d"):
        truth += [{"video": f"{v}.mp4", "start": "0", "end": "4", "label": "moving left"},
                  {"video": f"{v}.mp4", "start": "4", "end": "8", "label": "static"}]
        pred += [{"video": f"/x/{v}.mp4", "start": "0", "end": "3", "label": "moving left"},
                 {"video": f"/x/{v}.mp4", "start": "3", "end": "8", "label": "static"}]
    iv = bench.intervals(truth, pred, draws=200)
    assert iv["overall"] == pytest.approx([7 / 8, 7 / 8])
    assert list(iv["per_class"]) == ["static", "moving left"]
    assert iv["per_class"]["static"] == pytest.approx([1.0, 1.0])
    assert iv["per_class"]["moving left"] == pytest.approx([0.75, 0.75])
    assert iv["weakest_moving"] == pytest.approx([0.75, 0.75]) and iv["weakest_moving_at_least_80"] == 0.0
    # one video right, one wrong: the band spans the range, seeded, and holds the pooled figure
    truth2 = [{"video": "a.mp4", "start": "0", "end": "5", "label": "growing"},
              {"video": "b.mp4", "start": "0", "end": "5", "label": "growing"}]
    pred2 = [{"video": "a.mp4", "start": "0", "end": "5", "label": "growing"},
             {"video": "b.mp4", "start": "0", "end": "5", "label": "static"}]
    iv2 = bench.intervals(truth2, pred2, draws=400, seed=1)
    assert iv2["overall"] == [0.0, 1.0] and iv2 == bench.intervals(truth2, pred2, draws=400, seed=1)
    assert 0.0 < iv2["weakest_moving_at_least_80"] < 1.0
    # static lowest and two moving classes: the weakest moving class is the lower of the two
    # moving ones (static left out), in every draw of identical videos
    truth3, pred3 = [], []
    for v in ("a", "b", "c"):
        truth3 += [{"video": f"{v}.mp4", "start": "0", "end": "4", "label": "static"},
                   {"video": f"{v}.mp4", "start": "4", "end": "8", "label": "moving up"},
                   {"video": f"{v}.mp4", "start": "8", "end": "12", "label": "growing"}]
        pred3 += [{"video": f"{v}.mp4", "start": "0", "end": "1", "label": "static"},     # static 1/4
                  {"video": f"{v}.mp4", "start": "1", "end": "7", "label": "moving up"},  # up 3/4
                  {"video": f"{v}.mp4", "start": "7", "end": "12", "label": "growing"}]   # growing 4/4
    iv3 = bench.intervals(truth3, pred3, draws=50)
    assert iv3["weakest_moving"] == pytest.approx([0.75, 0.75])
    assert iv3["per_class"]["static"] == pytest.approx([0.25, 0.25])
    assert iv3["weakest_moving_at_least_80"] == 0.0


def test_intervals_percentiles_by_hand():
    """Twenty videos of 1 s, the first K right: a draw's accuracy is its share of right videos,
    so the band is the 2.5th and 97.5th percentile of those shares over the same seeded draws."""
    import random

    bench = _bench()
    truth = [{"video": f"v{i:02d}.mp4", "start": "0", "end": "1", "label": "moving left"} for i in range(20)]
    pred = [{"video": f"v{i:02d}.mp4", "start": "0", "end": "1", "label": "moving left" if i < 13 else "static"}
            for i in range(20)]
    iv = bench.intervals(truth, pred, draws=1000, seed=7)
    rng = random.Random(7)
    shares = sorted(sum(rng.randrange(20) < 13 for _ in range(20)) / 20 for _ in range(1000))
    want = [shares[int(round(0.025 * 999))], shares[int(round(0.975 * 999))]]
    assert iv["overall"] == pytest.approx(want) and iv["per_class"]["moving left"] == pytest.approx(want)
    assert want[0] < 13 / 20 < want[1]
    assert iv["weakest_moving_at_least_80"] == pytest.approx(sum(x >= 0.8 for x in shares) / 1000)


def test_report_of_pooled_sets():
    bench = _bench()
    one = {"accuracy": 0.9, "per_class": {"static": 0.5, "moving left": 0.8, "growing": 1.0}}
    res = {"accuracy": 0.9, "per_class": one["per_class"], "class_seconds": {"static": 1.0, "moving left": 1.0,
           "growing": 1.0}, "per_video": {"5_a.mp4": 0.9}, "confusion": {}, "seconds": 3.0,
           "seeds": [5, 6], "per_seed": {"5": one, "6": one},
           "intervals": {"draws": 10, "overall": [0.85, 0.95], "per_class": {}, "weakest_moving": [0.7, 0.9],
                         "weakest_moving_at_least_80": 0.6}}
    text = bench.report({"model": None, "videos": 2, "sets": 2, "smooth": None, "third_renderer": res})
    assert "2 videos per renderer in each of 2 sets" in text
    assert "bootstrap over videos (10 draws, 95 %): overall 85.0 % to 95.0 %; weakest moving class 70.0 % to " \
           "90.0 %, at 80 % or more in 60.0 % of draws" in text
    assert "third renderer seed 5: 90.0 %, weakest moving class moving left 80.0 %" in text
    assert "(seeds 5-6, pooled): per video 5_a" in text
