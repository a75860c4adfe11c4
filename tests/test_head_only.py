"""`cost train --head-only`: a frozen network, a new linear classifier on its cached features.

New classes the bundled model was not trained on: a coarser grouping of its nine motions
(moving: left/right/up/down; turning: either way; resizing: growing/shrinking; still: static),
rendered as video files by the generator's classic look.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import clirun
from cost_cli import synth, training
from cost_cli.training import TrainConfig

GROUPS = {"moving": ("moving left", "moving right", "moving up", "moving down"),
          "turning": ("rotating clockwise", "rotating counterclockwise"),
          "resizing": ("growing", "shrinking"), "still": ("static",)}
BUNDLED = Path(__file__).resolve().parent.parent / "weights" / "motion-tiny" / "model.safetensors"
# what the checks below demand (measured: 100 % validation, 100 % of held-out time; see the tests)
MIN_VAL_ACCURACY = 0.875
MIN_HELD_OUT_ACCURACY = 0.8


def cost(*args):
    return clirun.cost(*map(str, args), text=True)


def _clip(motion: str, frames: int, seed: list[int]) -> np.ndarray:
    return synth.render_clip(motion, frames, np.random.default_rng(seed), 96, 96, variety="classic")


def write_groups(root: Path, per_class: int, frames: int, seed: int) -> Path:
    for g, motions in GROUPS.items():
        (root / g).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            synth.write_video(root / g / f"c{i:02d}.mp4", _clip(motions[i % len(motions)], frames, [seed, i, len(g)]), 25)
    return root


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_groups(tmp_path_factory.mktemp("groups") / "data", 8, 24, 0)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> Path:
    """Two videos per class, never trained on (another seed, 48 frames: three windows each),
    with their ground truth."""
    root = tmp_path_factory.mktemp("held") / "held"
    root.mkdir()
    rows = ["video,start,end,label"]
    for k, (g, motions) in enumerate(GROUPS.items()):
        for i in range(2):
            name = f"{g}-{i}.mp4"
            synth.write_video(root / name, _clip(motions[(i + 1) % len(motions)], 48, [777, i, k]), 25)
            rows.append(f"{name},0,1.920,{g}")
    (root / "truth.csv").write_text("\n".join(rows) + "\n")
    return root


ARGS = ("--head-only", "--views", "2", "--val-fraction", "0.25", "--device", "cpu", "--workers", "0")


def computed(stderr: str) -> tuple[int, int]:
    m = re.search(r"features: (\d+) clip view\(s\) computed \(\d+ forward passes\), (\d+) from the cache", stderr)
    assert m, stderr
    return int(m.group(1)), int(m.group(2))


def weights(folder: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("head") / "m"
    r = cost("train", data, "--init", "motion-tiny", "--out", out, *ARGS)
    assert r.returncode == 0, r.stderr
    return out, r.stderr


def test_head_only_learns_new_classes_and_labels_held_out_videos(trained, held_out, tmp_path):
    out, stderr = trained
    assert computed(stderr) == (24 * 2 + 8, 0)  # 24 training clips x 2 views, 8 validation clips
    config = json.loads((out / "config.json").read_text())
    assert config["num_classes"] == 4 and config["arch"] == "costb-tiny" and config["smooth"] == 0.0
    assert (out / "labels.txt").read_text().split() == sorted(GROUPS)
    assert config["provenance"]["val_accuracy"] >= MIN_VAL_ACCURACY, config["provenance"]
    card = (out / "README.md").read_text()
    assert "cost train" in card and "--head-only" in card and "Confusion (rows: true class" in card
    assert "56 clip views, 56 computed (56 forward passes on cpu), 0 from the feature cache" in card
    # the written model labels videos it never saw, through cost label, and cost eval scores them
    r = cost("label", held_out, "--model", out, "-o", tmp_path / "l.csv", "-q")
    assert r.returncode == 0, r.stderr
    r = cost("eval", tmp_path / "l.csv", held_out / "truth.csv", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["accuracy"] >= MIN_HELD_OUT_ACCURACY, r.stdout
    r = cost("info", out)
    assert r.returncode == 0 and "moving" in r.stdout, r.stdout + r.stderr


def test_the_network_is_bit_identical(trained):
    before, after = weights(BUNDLED.parent), weights(trained[0])
    assert set(before) == set(after)
    changed = [k for k in before if before[k].dtype != after[k].dtype or before[k].shape != after[k].shape
               or before[k].tobytes() != after[k].tobytes()]
    assert sorted(changed) == ["cls_head.fc_cls.bias", "cls_head.fc_cls.weight"]
    assert after["cls_head.fc_cls.weight"].shape == (4, 512)


def test_a_rerun_reuses_the_cache_and_a_changed_clip_is_recomputed(data, trained, tmp_path):
    import shutil

    src, _ = trained
    out = tmp_path / "m"
    shutil.copytree(src, out)
    r = cost("train", data, "--init", "motion-tiny", "--out", out, *ARGS)
    assert r.returncode == 2 and "is not empty" in r.stderr and "--overwrite" in r.stderr
    r = cost("train", data, "--init", "motion-tiny", "--out", out, *ARGS, "--overwrite")
    assert r.returncode == 0, r.stderr
    assert computed(r.stderr) == (0, 56)
    assert (out / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()  # seeded
    # a changed clip: its views alone are computed again (2 if it trains, 1 if it validates);
    # on a copy of the data (other paths: new clips to the cache), as the other tests use the data
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    r = cost("train", copy, "--init", "motion-tiny", "--out", out, *ARGS, "--overwrite")
    assert r.returncode == 0 and computed(r.stderr) == (56, 0), r.stderr
    synth.write_video(copy / "moving" / "c03.mp4", _clip("moving left", 24, [6, 6, 6]), 25)
    r = cost("train", copy, "--init", "motion-tiny", "--out", out, *ARGS, "--overwrite")
    assert r.returncode == 0, r.stderr
    labels, items = training.scan_folder(copy)
    train, _ = training.split_items(items, len(labels), 0.25, 0)
    in_train = any(it.path == str(copy / "moving" / "c03.mp4") for it in train)
    assert computed(r.stderr) == ((2, 54) if in_train else (1, 55))


def test_a_killed_run_resumes_from_its_cache(data, trained, tmp_path, monkeypatch):
    from cost_cli.training import head

    out = tmp_path / "m"
    cfg = TrainConfig(out=str(out), data=str(data), init="motion-tiny", head_only=True, views=2, val_fraction=0.25,
                      device="cpu", workers=0, epochs=200)
    written = []
    original = head._write_entry

    def write_then_die(path, features):
        original(path, features)
        written.append(path)
        if len(written) == 10:
            raise KeyboardInterrupt

    monkeypatch.setattr(head, "_write_entry", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        training.train(cfg)
    monkeypatch.setattr(head, "_write_entry", original)
    assert sorted(p.name for p in out.iterdir()) == ["feature-cache"]  # no model folder half-written
    assert len(list((out / "feature-cache").iterdir())) == 10
    from dataclasses import replace

    result = training.train(replace(cfg, resume=True))
    assert (result.details["computed"], result.details["reused"]) == (46, 10)
    assert (out / "model.safetensors").read_bytes() == (trained[0] / "model.safetensors").read_bytes()


def test_from_a_model_folder_with_segments_of_long_videos(tiny_model_dir, tmp_path):
    """A CSV of segments inside long videos, a model folder as --init (5 classes -> 4), then its
    result as --init in turn: every weight but the classifier is the same bits all the way."""
    rows = ["video,start,end,label"]
    for v in range(3):
        seq = [GROUPS[g][v % len(GROUPS[g])] for g in GROUPS]
        frames, truth = _sequence(seq, v)
        synth.write_video(tmp_path / f"long{v}.mp4", frames, 25)
        for (a, b), g in zip(truth, GROUPS):
            rows.append(f"long{v}.mp4,{a / 25:.2f},{b / 25:.2f},{g}")
    (tmp_path / "segments.csv").write_text("\n".join(rows) + "\n")
    first, second = tmp_path / "m1", tmp_path / "m2"
    for init, out in ((tiny_model_dir, first), (first, second)):
        r = cost("train", tmp_path / "segments.csv", "--init", init, "--out", out, *ARGS[:3], "--val-fraction", "0.34",
                 "--device", "cpu", "--workers", "0")
        assert r.returncode == 0, r.stderr
        assert (out / "labels.txt").read_text().split() == sorted(GROUPS)
    a, b, c = weights(tiny_model_dir), weights(first), weights(second)
    for k in a:
        if not k.startswith("cls_head.fc_cls."):
            assert a[k].tobytes() == b[k].tobytes() == c[k].tobytes(), k
    r = cost("label", tmp_path / "long0.mp4", "--model", second, "-q")
    assert r.returncode == 0 and r.stdout.splitlines()[0].startswith("video,start"), r.stderr


def _sequence(motions: list[str], seed: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Clips of each motion, one after another (20 frames each), and their frame ranges."""
    clips = [_clip(m, 20, [seed, i, 9]) for i, m in enumerate(motions)]
    bounds = [(20 * i, 20 * (i + 1)) for i in range(len(clips))]
    return np.concatenate(clips), bounds


def test_a_model_never_mirrored_stays_so(tiny_model_dir, data, tmp_path, monkeypatch):
    """--init whose config says flip false: no training view is mirrored (the same model with
    flip true mirrors some), --flip always is refused, and the written model says flip false."""
    import shutil

    from cost_cli.training import datasets

    m = tmp_path / "noflip"
    shutil.copytree(tiny_model_dir, m)
    config = json.loads((m / "config.json").read_text())
    (m / "config.json").write_text(json.dumps(dict(config, flip=False)))
    r = cost("train", data, "--init", m, "--out", tmp_path / "a", *ARGS, "--flip", "always")
    assert r.returncode == 2 and "--flip always" in r.stderr and "never mirrored" in r.stderr, r.stderr
    seen: list[bool] = []
    real = datasets.augment

    def spy(frames, spec, rng, flip, scale_max):
        seen.append(flip)
        return real(frames, spec, rng, flip, scale_max)

    monkeypatch.setattr(datasets, "augment", spy)
    for init, out in ((tiny_model_dir, tmp_path / "b"), (m, tmp_path / "c")):
        seen.clear()
        # through the library (the spy sees it whether or not commands run in processes of their own)
        training.train(TrainConfig(out=str(out), data=str(data), init=str(init), head_only=True, views=2,
                                   val_fraction=0.25, device="cpu", workers=0))
        assert len(seen) == 48  # 24 training clips x 2 views
        assert any(seen) == (init == tiny_model_dir)
    assert json.loads((tmp_path / "c" / "config.json").read_text())["flip"] is False


@pytest.mark.parametrize("head_only", [True, False], ids=["head-only", "full"])
def test_a_model_read_in_segments_and_squashed_is_trained_so(tiny_model_dir, data, tmp_path, monkeypatch, head_only):
    """--init whose pipeline is TSN's (segments) and the MIT 3-D ResNet's (squash): training
    clips are read in segments (a random frame of each; the middle ones for validation) and
    squashed whole (no crop cuts off an edge), and the written model keeps both settings."""
    import shutil

    from cost_cli import decode
    from cost_cli.training import datasets

    m = tmp_path / "tsnlike"
    shutil.copytree(tiny_model_dir, m)
    config = json.loads((m / "config.json").read_text())
    (m / "config.json").write_text(json.dumps(dict(config, sampling="segments", resize="squash")))
    reads: list[list[int]] = []
    specs = []
    real_read, real_augment = decode.read_frames, datasets.augment

    def read_spy(path, indices, *a, **kw):
        reads.append(list(indices))
        return real_read(path, indices, *a, **kw)

    def augment_spy(frames, spec, rng, flip, scale_max):
        specs.append((spec.sampling, spec.resize))
        out = real_augment(frames, spec, rng, flip, scale_max)
        assert out.shape == (len(frames), spec.crop_size, spec.crop_size, 3)
        return out

    monkeypatch.setattr(decode, "read_frames", read_spy)
    monkeypatch.setattr(datasets, "augment", augment_spy)
    out = tmp_path / "out"
    more = dict(views=2) if head_only else dict(epochs=1)
    training.train(TrainConfig(out=str(out), data=str(data), init=str(m), head_only=head_only, val_fraction=0.25,
                               device="cpu", workers=0, batch_size=8, **more))
    written = json.loads((out / "config.json").read_text())
    assert (written["sampling"], written["resize"]) == ("segments", "squash")
    assert specs and set(specs) == {("segments", "squash")}
    # the clips are 24 frames, a window 8 x 2 = 16: each read takes one frame of each 2-frame
    # segment of a 16-frame span; validation reads the middle (odd) frames, training any
    span_reads = [r for r in reads if len(r) == 8]
    assert span_reads and all(all(0 <= b - a <= 3 for a, b in zip(r, r[1:])) and r[-1] - r[0] <= 15
                              for r in span_reads), span_reads
    assert any(any(i % 2 == 0 for i in r) for r in span_reads)  # a random frame, not always the middle


def test_squash_keeps_the_whole_frame():
    """Training and labeling transforms of a squashed model keep both edges of a wide frame
    (a centre crop would cut them off)."""
    from cost_cli.training.augment import augment, eval_transform
    from cost_cli.training.config import InputSpec

    frames = np.zeros((2, 60, 180, 3), np.uint8)
    frames[:, :, :10] = 255  # a white band at the left edge
    frames[:, :, -10:, 1] = 255  # a green one at the right
    squash = InputSpec(2, 1, 64, 56, (0.0,) * 3, (1.0,) * 3, resize="squash")
    crop = InputSpec(2, 1, 64, 56, (0.0,) * 3, (1.0,) * 3)
    for out in (eval_transform(frames, squash), augment(frames, squash, np.random.default_rng(0), False, 1.0)):
        assert out.shape == (2, 56, 56, 3)
        assert out[:, :, 0].min() > 200 and out[:, :, -1, 1].min() > 200 and out[:, :, -1, 0].max() < 50
    centre = eval_transform(frames, crop)
    assert centre[:, :, 0].max() == 0  # the centre crop loses the band


@pytest.mark.parametrize("case", ["empty class", "unreadable clip", "one class", "clip shorter than a window",
                                  "segment shorter than a window", "full fine-tune, clip shorter than a window"])
def test_bad_data_is_one_line_exit_2_and_nothing_written(tmp_path, case):
    d = tmp_path / "data"
    for g in ("moving", "still"):
        (d / g).mkdir(parents=True)
        synth.write_video(d / g / "ok.mp4", _clip(GROUPS[g][0], 24, [1, len(g)]), 25)
    data, args = d, ["--init", "motion-tiny", "--head-only"]
    if case == "empty class":
        (d / "turning").mkdir()
        expect = "class 'turning' has no video clips"
    elif case == "unreadable clip":
        (d / "still" / "broken.mp4").write_bytes(b"not a video" * 100)
        expect = f"unreadable clip {d / 'still' / 'broken.mp4'}"
    elif case == "one class":
        import shutil

        shutil.rmtree(d / "still")
        expect = "only one class ('moving')"
    elif case == "segment shorter than a window":
        data = d / "s.csv"
        data.write_text("video,start,end,label\nmoving/ok.mp4,0,0.9,moving\nstill/ok.mp4,0,0.4,still\n")
        expect = f"{data}:3: segment of {d / 'still' / 'ok.mp4'} is shorter than one window: 10 frames"
    else:
        synth.write_video(d / "still" / "short.mp4", _clip("static", 10, [2]), 25)
        expect = f"clip {d / 'still' / 'short.mp4'} is shorter than one window: 10 frames, and the model reads 8 frames every 2"
        if case.startswith("full"):
            args = ["--init", "motion-tiny", "--epochs", "1"]
    out = tmp_path / "m"
    r = cost("train", data, "--out", out, "--device", "cpu", "--workers", "0", *args)
    assert r.returncode == 2, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expect in errors[0], r.stderr
    assert "Traceback" not in r.stderr and not out.exists()


@pytest.mark.parametrize("args,needle", [
    (["--head-only"], "--head-only needs --init MODEL"),
    (["--views", "3", "--init", "motion-tiny"], "--views (augmented views per training clip) is for --head-only"),
    (["--head-only", "--init", "motion-tiny", "--views", "0"], "--views must be at least 1"),
    (["--head-only", "--init", "motion-tiny", "--synthetic", "10", "NODATA"], "--head-only trains on DATA"),
])
def test_usage_errors(tmp_path, args, needle):
    data = [] if "NODATA" in args else [tmp_path]
    r = cost("train", *data, "--out", tmp_path / "m", *[a for a in args if a != "NODATA"])
    assert r.returncode == 2 and needle in r.stderr, r.stderr


def test_the_help_says_the_defaults():
    from cost_cli.training.config import HEAD_EPOCHS, HEAD_VIEWS

    r = cost("train", "--help")
    text = " ".join(r.stdout.split())
    assert f"clip (default {HEAD_VIEWS})" in text and f"--head-only: at most {HEAD_EPOCHS}" in text
