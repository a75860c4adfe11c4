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


# ---------------------------------------------------------------------------------------------
# the wide variety


@pytest.mark.parametrize("label", synth.CLASSES)
@pytest.mark.parametrize("fps", [12.0, 25.0, 60.0])
def test_wide_rates_per_second_within_the_documented_ranges(label, fps):
    """Per-frame rates = per-second ranges / fps, capped per frame, never below the visibility floor."""
    rng = np.random.default_rng(1)
    short = 112
    for _ in range(40):
        size = rng.uniform(*synth.WIDE_SIZE_RANGE) * short
        m = synth.sample_wide_motion(label, rng, short, fps, size)
        assert m.label == label
        floor = synth.visibility_floor(label, short, size)
        if label == "static":
            assert (m.dx, m.dy, m.dangle, m.dlogsize) == (0, 0, 0, 0)
        elif label.startswith("moving"):
            main, side = (abs(m.dx), abs(m.dy)) if label in ("moving left", "moving right") else (abs(m.dy), abs(m.dx))
            lo, hi = synth.WIDE_SPEED_RANGE
            assert max(lo * short / fps, floor) - 1e-9 <= main <= min(hi * short / fps, synth.MAX_SPEED_PER_FRAME * short) + 1e-9
            assert side <= synth.MAX_DRIFT * main + 1e-9
            # visible: the centre moves at least VISIBLE_SHIFT of the short side within a window
            assert main * synth.WINDOW_STEPS >= synth.VISIBLE_SHIFT * short - 1e-9
        elif label.startswith("rotating"):
            a = abs(m.dangle)
            assert (m.dangle > 0) == (label == "rotating clockwise")
            assert a >= floor - 1e-9 and a >= synth.WIDE_ROTATION_RANGE[0] / fps - 1e-9
            assert a <= max(floor, min(synth.WIDE_ROTATION_RANGE[1] / fps, synth.MAX_ROTATION_PER_FRAME)) + 1e-9
            assert math.radians(a) * synth.WINDOW_STEPS * size / 4 >= synth.VISIBLE_SHIFT * short - 1e-6
        else:
            g = abs(m.dlogsize)
            assert (m.dlogsize > 0) == (label == "growing")
            assert g >= floor - 1e-12 and g >= synth.WIDE_SCALE_RANGE[0] / fps - 1e-12
            assert g <= max(floor, min(synth.WIDE_SCALE_RANGE[1] / fps, synth.MAX_SCALE_PER_FRAME)) + 1e-12
            assert size * math.expm1(g * synth.WINDOW_STEPS) >= synth.VISIBLE_SHIFT * short - 1e-6


def test_wide_rates_reach_from_barely_moving_to_fast():
    rng = np.random.default_rng(2)
    speeds = [abs(synth.sample_wide_motion("moving right", rng, 100, fps, 30).dx) * fps / 100
              for fps in (12, 25, 60) for _ in range(300)]
    assert min(speeds) < 0.06 and max(speeds) > 0.9  # short sides per second


def test_wide_same_seed_same_pixels():
    for seed in range(6):  # some of these go through JPEG or MPEG-4 and back
        a = synth.render_clip("growing", 16, np.random.default_rng(seed), 64, 48, variety="wide")
        b = synth.render_clip("growing", 16, np.random.default_rng(seed), 64, 48, variety="wide")
        assert a.dtype == np.uint8 and a.shape == (16, 48, 64, 3)
        assert np.array_equal(a, b)
    c = synth.render_clip("growing", 16, np.random.default_rng(99), 64, 48, variety="wide")
    assert not np.array_equal(a, c)
    with pytest.raises(ValueError):
        synth.render_clip("growing", 4, np.random.default_rng(0), variety="fancy")


def test_wide_looks_differ_from_seed_to_seed():
    looks = [synth.random_look(np.random.default_rng(s), 96, 96, 25.0) for s in range(40)]
    assert len({round(float(lk.background.std()), 3) for lk in looks}) > 30
    assert any(lk.jpeg for lk in looks) and any(lk.mp4v for lk in looks)
    assert any(lk.noise == 0 for lk in looks) and any(lk.noise > 2 for lk in looks)
    assert any(len(lk.sprites) > 1 for lk in looks) and any(lk.gray for lk in looks)


@pytest.mark.parametrize("seed", range(8))
def test_wide_static_is_truly_static_without_noise(seed):
    """Backgrounds, distractors, occluders, blur and JPEG are the same in every frame of a still scene."""
    rng = np.random.default_rng(seed)
    look = synth.random_look(rng, 80, 64, 30.0)
    look.noise = look.flicker = 0.0
    states = [synth.State(40, 32, 10, 20) for _ in look.sprites]
    frames = [synth.draw_wide(look, states, rng) for _ in range(3)]
    assert np.array_equal(frames[0], frames[1]) and np.array_equal(frames[0], frames[2])


def _plain_look(size=112, exposure=0.0):
    sprite = np.zeros((synth._SPRITE, synth._SPRITE, 4), np.float32)
    sprite[..., 3] = 1.0
    sprite[: synth._SPRITE // 4, :, :3] = 255.0  # a bright band at the sprite's top edge (premultiplied)
    return synth.Look(size, size, 25.0, np.zeros((size, size, 3), np.float32), [sprite], [], noise=0.0,
                      flicker=0.0, blur=0.0, lowres=1.0, gray=False, quantize=False, exposure=exposure,
                      jpeg=0, mp4v=False)


@pytest.mark.parametrize("label,axis,sign", [("moving left", 0, -1), ("moving right", 0, 1),
                                              ("moving up", 1, -1), ("moving down", 1, 1)])
def test_wide_slowest_translation_is_visible_within_a_window(label, axis, sign):
    """At 60 fps the slowest translation still moves the object VISIBLE_SHIFT x 112 px over a window."""
    look = _plain_look()
    lo, _ = synth.wide_rate_bounds(label, 60.0, 112, 30)
    v = lo * (-1 if sign < 0 else 1)
    m = synth.Motion(label, dx=v if axis == 0 else 0.0, dy=v if axis == 1 else 0.0)
    states = synth.trajectory(synth.State(56, 56, 0, 30), [m] * synth.WINDOW_STEPS, 112, 112)
    rng = np.random.default_rng(0)
    first = synth.draw_wide(look, [states[0]], rng).max(-1).astype(np.float64)
    last = synth.draw_wide(look, [states[-1]], rng).max(-1).astype(np.float64)

    def centre(img):  # intensity-weighted: sub-pixel positions count
        ys, xs = np.mgrid[0:img.shape[0], 0:img.shape[1]]
        return (xs * img).sum() / img.sum(), (ys * img).sum() / img.sum()

    moved = (centre(last)[axis] - centre(first)[axis]) * sign
    assert moved >= 0.9 * synth.VISIBLE_SHIFT * 112
    assert moved <= 1.2 * synth.VISIBLE_SHIFT * 112  # and it is the slowest: barely moving


def test_wide_clockwise_and_growth_on_screen():
    look = _plain_look(96)
    rng = np.random.default_rng(0)
    top = synth.draw_wide(look, [synth.State(48, 48, 0, 40)], rng)[..., 0] > 128
    quarter = synth.draw_wide(look, [synth.State(48, 48, 90, 40)], rng)[..., 0] > 128
    assert _centroid(top)[1] < 40 and _centroid(quarter)[0] > 56
    m = synth.sample_wide_motion("growing", rng, 96, 25.0, 30)
    states = synth.trajectory(synth.State(48, 48, 0, 30), [m] * synth.WINDOW_STEPS, 96, 96)
    area0 = (synth.draw_wide(look, [states[0]], rng).max(-1) > 0).sum()
    area1 = (synth.draw_wide(look, [states[-1]], rng).max(-1) > 0).sum()
    assert area1 > area0


def test_wide_motion_blur_smears_along_the_motion():
    rng = np.random.default_rng(0)
    sharp = synth.draw_wide(_plain_look(96), [synth.State(48, 48, 0, 30)], rng, shift=(8.0, 0.0))
    smeared = synth.draw_wide(_plain_look(96, exposure=1.0), [synth.State(48, 48, 0, 30)], rng, shift=(8.0, 0.0))
    cols = lambda f: int((f.max(axis=(0, 2)) > 0).sum())  # noqa: E731 - columns the object covers
    rows = lambda f: int((f.max(axis=(1, 2)) > 0).sum())  # noqa: E731
    assert cols(smeared) >= cols(sharp) + 6 and rows(smeared) <= rows(sharp) + 1


def test_wide_clip_across_a_change_and_sequence():
    clip = synth.render_clip("static", 16, np.random.default_rng(1), 64, 64, indices=[0, 2, 4, 6, 8, 10, 12, 14],
                             change_at=10, other="rotating clockwise", variety="wide", fps=12)
    assert clip.shape == (8, 64, 64, 3)
    frames, segs = synth.render_sequence(np.random.default_rng(5), num_segments=4, width=80, height=64,
                                         segment_frames=(20, 40), variety="wide", fps=50.0)
    assert frames.shape == (segs[-1].end, 64, 80, 3) and segs[0].start == 0
    for a, b in zip(segs, segs[1:]):
        assert a.end == b.start and a.label != b.label


def test_write_demo_wide_and_bad_variety(tmp_path):
    from cost_cli.cli import main

    rows = synth.write_demo(tmp_path / "w", count=1, seed=2, fps=15, size=64, segments=2, seconds=(0.8, 1.0),
                            variety="wide")
    assert len(rows) == 2 and (tmp_path / "w" / "motion_000.mp4").stat().st_size > 0
    with pytest.raises(SystemExit) as e:
        main(["demo", str(tmp_path / "d"), "--variety", "fancy"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["demo", str(tmp_path / "d2"), "--count", "1", "--size", "48", "--segments", "2", "--seconds", "0.5",
              "--variety", "wide", "--layout", "classes"])
    assert e.value.code == 0 and (tmp_path / "d2" / "growing" / "clip_000.mp4").is_file()


# the broad variety: the wide one plus patterned looks


def test_broad_same_seed_same_pixels_and_patterned_looks():
    for seed in range(4):
        a = synth.render_clip("moving left", 16, np.random.default_rng(seed), 64, 48, variety="broad")
        b = synth.render_clip("moving left", 16, np.random.default_rng(seed), 64, 48, variety="broad")
        assert a.shape == (16, 48, 64, 3) and np.array_equal(a, b)
    frames, segs = synth.render_sequence(np.random.default_rng(3), 2, 64, 64, segment_frames=(20, 30),
                                         variety="broad", fps=25.0)
    assert len(frames) == segs[-1].end and segs[0].label != segs[1].label


def _fine_energy(image: np.ndarray) -> float:
    """Mean absolute difference of neighbouring pixels: high for stripes, checks, grain."""
    g = image.astype(np.float32).mean(-1)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


def test_patterned_looks_are_fine_grained():
    """patterned(): backgrounds and objects get stripes, checks, grids, dots, blotches or grain."""
    from cost_cli.synth.looks import _PATTERNS, Pattern, draw_pattern, patterned

    rng = np.random.default_rng(0)
    for kind in set(_PATTERNS):
        p = Pattern(kind, [np.float32([20, 20, 20]), np.float32([220, 220, 220])], 4.0, True)
        img = draw_pattern(rng, p, 64, 64)
        assert img.shape == (64, 64, 3) and img.min() >= 0 and img.max() <= 255
        assert _fine_energy(img) > 10, kind  # a 4-px pattern of two far colours is busy everywhere
    plain = [synth.random_look(np.random.default_rng(s), 96, 96, 25.0) for s in range(30)]
    busy = [patterned(synth.random_look(np.random.default_rng(s), 96, 96, 25.0), np.random.default_rng(s))
            for s in range(30)]
    assert np.mean([_fine_energy(lk.background) for lk in busy]) > 1.5 * np.mean(
        [_fine_energy(lk.background) for lk in plain])
    assert all(lk.sprites[0].shape == plain[0].sprites[0].shape for lk in busy)
