"""The synthetic motion generator: classes, determinism, directions, sequences, demo files."""

from __future__ import annotations

import csv
import math

import cv2
import numpy as np
import pytest

from cost_cli import synth


def test_class_names_are_exact():
    assert synth.CLASSES == ("static", "moving left", "moving right", "moving up", "moving down",
                             "rotating clockwise", "rotating counterclockwise", "growing", "shrinking")


def test_same_seed_same_pixels_other_seed_other_pixels():
    a = synth.render_clip("moving left", 16, np.random.default_rng(3), 64, 64)
    b = synth.render_clip("moving left", 16, np.random.default_rng(3), 64, 64)
    c = synth.render_clip("moving left", 16, np.random.default_rng(4), 64, 64)
    assert a.dtype == np.uint8 and a.shape == (16, 64, 64, 3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("label", synth.CLASSES)
def test_motion_rates_are_in_the_issue_ranges(label):
    rng = np.random.default_rng(0)
    for _ in range(50):
        m = synth.sample_motion(label, rng, width=200)
        speed = math.hypot(m.dx, m.dy) / 200
        assert speed == 0 or 0.005 <= speed <= 0.03
        assert m.dangle == 0 or 2 <= abs(m.dangle) <= 6
        assert m.dlogsize == 0 or 0.005 <= abs(math.expm1(m.dlogsize)) <= 0.02 + 1e-9
    assert synth.sample_motion(label, rng, 200).label == label


def _plain_scene(size=96):
    sprite = np.zeros((synth._SPRITE, synth._SPRITE, 4), np.float32)
    sprite[..., 3] = 1.0
    sprite[: synth._SPRITE // 4, :, :3] = 255.0  # a bright band at the sprite's top edge
    bg = np.zeros((size, size, 3), np.float32)
    return synth.Scene(size, size, bg, sprite, noise=0.0, flicker=0.0, blur=0.0)


def _centroid(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


@pytest.mark.parametrize("label,axis,sign", [("moving left", 0, -1), ("moving right", 0, 1),
                                              ("moving up", 1, -1), ("moving down", 1, 1)])
def test_directions_as_seen_on_screen(label, axis, sign):
    scene = _plain_scene()
    m = synth.Motion(label, dx={"moving left": -2, "moving right": 2}.get(label, 0.0),
                     dy={"moving up": -2, "moving down": 2}.get(label, 0.0))
    assert synth.sample_motion(label, np.random.default_rng(0), 96).dx * m.dx >= 0
    assert synth.sample_motion(label, np.random.default_rng(0), 96).dy * m.dy >= 0
    states = synth.trajectory(synth.State(48, 48, 0, 30), [m] * 5, 96, 96)
    rng = np.random.default_rng(0)
    c0 = _centroid(synth.draw(scene, states[0], rng)[..., 0] > 0)
    c1 = _centroid(synth.draw(scene, states[-1], rng)[..., 0] > 0)
    assert (c1[axis] - c0[axis]) * sign > 5


def test_clockwise_is_clockwise_on_screen():
    scene = _plain_scene()
    rng = np.random.default_rng(0)
    m = synth.sample_motion("rotating clockwise", rng, 96)
    assert m.dangle > 0
    top = synth.draw(scene, synth.State(48, 48, 0, 40), rng)[..., 0] > 128
    quarter = synth.draw(scene, synth.State(48, 48, 90, 40), rng)[..., 0] > 128
    assert _centroid(top)[1] < 40  # the band starts at the top ...
    assert _centroid(quarter)[0] > 56  # ... and a clockwise quarter turn takes it to the right


def test_growing_grows_and_shrinking_shrinks():
    scene = _plain_scene()
    rng = np.random.default_rng(0)
    for label, sign in (("growing", 1), ("shrinking", -1)):
        m = synth.sample_motion(label, rng, 96)
        states = synth.trajectory(synth.State(48, 48, 0, 30), [m] * 10, 96, 96)
        area0 = (synth.draw(scene, states[0], rng).max(-1) > 0).sum()
        area1 = (synth.draw(scene, states[-1], rng).max(-1) > 0).sum()
        assert (area1 - area0) * sign > 0


def test_sequence_segments_tile_and_change():
    frames, segs = synth.render_sequence(np.random.default_rng(5), num_segments=4, width=80, height=80,
                                         segment_frames=(20, 40))
    assert frames.shape == (segs[-1].end, 80, 80, 3)
    assert segs[0].start == 0
    for a, b in zip(segs, segs[1:]):
        assert a.end == b.start and a.label != b.label
    assert all(20 <= s.end - s.start <= 40 and s.label in synth.CLASSES for s in segs)


def test_clip_across_a_change_of_motion():
    rng = np.random.default_rng(1)
    clip = synth.render_clip("static", 16, rng, 64, 64, indices=[0, 2, 4, 6, 8, 10, 12, 14],
                             change_at=10, other="moving right")
    assert clip.shape == (8, 64, 64, 3)


def test_write_demo_videos_and_ground_truth(tmp_path):
    rows = synth.write_demo(tmp_path, count=2, seed=1, fps=25, size=64, segments=2, seconds=(0.8, 1.2))
    with open(tmp_path / "ground_truth.csv", newline="") as f:
        truth = list(csv.DictReader(f))
    assert list(truth[0].keys()) == ["video", "start", "end", "label"]
    assert len(truth) == len(rows) == 4
    for name in {r["video"] for r in truth}:
        mine = [r for r in truth if r["video"] == name]
        cap = cv2.VideoCapture(str(tmp_path / name))
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        cap.release()
        assert float(mine[0]["start"]) == 0.0
        assert float(mine[-1]["end"]) == pytest.approx(n / 25, abs=0.05)


def test_write_demo_class_folders(tmp_path):
    synth.write_demo(tmp_path, count=1, seed=1, size=48, seconds=(0.5, 0.5), layout="classes",
                     classes=("static", "growing"))
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["growing", "static"]
    assert (tmp_path / "growing" / "clip_000.mp4").stat().st_size > 0


def test_demo_command(tmp_path):
    from cost_cli.cli import main

    with pytest.raises(SystemExit) as e:
        main(["demo", str(tmp_path / "d"), "--count", "1", "--size", "48", "--segments", "2", "--seconds", "0.5-1"])
    assert e.value.code == 0
    assert (tmp_path / "d" / "motion_000.mp4").is_file()
    with pytest.raises(SystemExit) as e:
        main(["demo", str(tmp_path / "d"), "--seconds", "6-3"])
    assert e.value.code == 2
