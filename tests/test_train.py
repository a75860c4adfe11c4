"""`cost train`: a tiny run learns, resume continues exactly, bad data gives clear errors."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cost_cli import synth, training
from cost_cli.errors import ResumeError, UsageError
from cost_cli.training import TrainConfig
import clirun

TINY = dict(clip_len=4, frame_interval=2, short_side=40, crop_size=32, render_size=48, batch_size=8,
            workers=0, device="cpu", arch="costb-tiny")


def _cost(*args: str) -> subprocess.CompletedProcess:
    return clirun.cost(*args, text=True)


def _clips(folder: Path, label: str, n: int = 2, frames: int = 10) -> None:
    (folder / label).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        clip = synth.render_clip(label, frames, np.random.default_rng([i, len(label)]), 48, 48)
        synth.write_video(folder / label / f"c{i}.mp4", clip, 25)


def test_flips_never_for_handed_classes():
    flips = training.flip_allowed(list(synth.CLASSES), "auto")
    allowed = {c for c, f in zip(synth.CLASSES, flips) if f}
    assert allowed == {"static", "moving up", "moving down", "growing", "shrinking"}
    assert not any(training.flip_allowed(["a", "b"], "never"))


def test_fine_tune_learns(tmp_path):
    """Start from the bundled model, new 3-class head: loss falls and accuracy beats chance."""
    cfg = TrainConfig(out=str(tmp_path / "m"), synthetic=144, synthetic_val=45, init="motion-tiny",
                      classes=("static", "moving left", "growing"), epochs=3, batch_size=16, workers=0,
                      device="cpu", short_side=64, crop_size=56, render_size=80, seed=0, transitions=0.0,
                      optimizer="adamw", lr=3e-3)
    result = training.train(cfg)
    losses = [r["loss"] for r in result.history]
    assert losses[-1] < losses[0]
    assert result.val_accuracy > 0.5  # chance is 1/3
    from cost_cli.loader import load_model

    m = load_model(str(tmp_path / "m"))
    assert m.labels == ["static", "moving left", "growing"] and m.arch.name == "costb-tiny"
    card = (tmp_path / "m" / "README.md").read_text()
    assert "classifier replaced (9 -> 3 classes)" in card and "validation accuracy" in card
    assert not (tmp_path / "m" / "checkpoints").exists()


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path, monkeypatch):
    base = TrainConfig(out=str(tmp_path / "a"), synthetic=16, synthetic_val=9, epochs=2,
                       classes=("static", "moving right", "shrinking"), seed=3, **TINY)
    ref = training.train(base)
    from safetensors.torch import load_file

    want = load_file(str(tmp_path / "a" / "model.safetensors"))

    interrupted = replace(base, out=str(tmp_path / "b"))
    original = training.checkpoint.save

    def save_then_stop(path, *args):
        original(path, *args)
        raise KeyboardInterrupt

    monkeypatch.setattr(training.checkpoint, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        training.train(interrupted)
    monkeypatch.setattr(training.checkpoint, "save", original)
    assert (tmp_path / "b" / "checkpoints" / "last.pt").is_file()
    with pytest.raises(UsageError):  # not empty, and no --resume
        training.train(interrupted)
    with pytest.raises(ResumeError):  # different settings
        training.train(replace(interrupted, resume=True, seed=4))
    result = training.train(replace(interrupted, resume=True))
    got = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert [r["epoch"] for r in result.history] == [1, 2]
    assert result.history[0] == ref.history[0] | {"seconds": result.history[0]["seconds"]}
    for k in want:
        assert torch.equal(want[k], got[k]), k


def test_folder_and_csv_data(tmp_path):
    data = tmp_path / "data"
    for label in ("static", "moving left"):
        _clips(data, label, n=3)
    r = training.train(TrainConfig(out=str(tmp_path / "m1"), data=str(data), epochs=1, val_fraction=0.34,
                                   decoder="opencv", **TINY))
    assert r.labels == ["moving left", "static"] and r.val_accuracy is not None
    csv_path = data / "segments.csv"
    csv_path.write_text("video,start,end,label\nstatic/c0.mp4,0,0.4,still\nmoving left/c0.mp4,0,0.4,left\n"
                        "static/c1.mp4,0,0.4,still\nmoving left/c1.mp4,0.0,0.4,left\n")
    r = training.train(TrainConfig(out=str(tmp_path / "m2"), data=str(csv_path), epochs=1, val_fraction=0.5,
                                   decoder="opencv", **TINY))
    assert r.labels == ["left", "still"]


@pytest.mark.parametrize("case", ["empty class", "unreadable clip", "one class"])
def test_bad_data_folders_exit_2_with_one_line(tmp_path, case):
    data = tmp_path / "data"
    _clips(data, "static", n=1)
    if case == "empty class":
        (data / "growing").mkdir()
        expect = "class 'growing' has no video clips"
    elif case == "unreadable clip":
        (data / "growing").mkdir()
        (data / "growing" / "broken.mp4").write_bytes(b"this is not a video" * 100)
        expect = "unreadable clip"
    else:
        expect = "only one class ('static')"
    r = _cost("train", str(data), "--out", str(tmp_path / "m"), "--device", "cpu")
    assert r.returncode == 2, r.stderr
    # native decoders may print their own noise first; ours is one "error:" line (plus a hint)
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and expect in errors[0], r.stderr
    assert "Traceback" not in r.stderr


def test_conflicting_options_name_both(tmp_path):
    r = _cost("train", str(tmp_path), "--synthetic", "10", "--out", str(tmp_path / "m"))
    assert r.returncode == 2 and "DATA and --synthetic" in r.stderr
    r = _cost("train", "--synthetic", "10", "--out", str(tmp_path / "m"), "--init", "motion-tiny",
              "--arch", "c2d-tiny", "--device", "cpu")
    assert r.returncode == 2 and "--arch c2d-tiny conflicts with --init motion-tiny" in r.stderr


def test_generated_clips_of_both_varieties(tmp_path):
    """SyntheticClips: the same sample for the same (seed, epoch, index); wide and classic differ."""
    spec = training.InputSpec(4, 2, 40, 32, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    common = dict(spec=spec, labels=list(synth.CLASSES), seed=0, flips=[False] * 9, scale_max=1.25, train=True)
    wide = training.SyntheticClips(18, 0.5, 48, "wide", **common)
    classic = training.SyntheticClips(18, 0.5, 48, "classic", **common)
    for i in (0, 7, 13):
        a, ya = wide[i]
        b, yb = wide[i]
        c, _ = classic[i]
        assert a.shape == (4, 32, 32, 3) and a.dtype == torch.uint8 and ya == yb == i % 9
        assert torch.equal(a, b) and not torch.equal(a, c)
    first = wide[0][0]
    wide.epoch = 1  # fresh clips every epoch
    assert not torch.equal(wide[0][0], first)
    val = training.SyntheticClips(9, 0.0, 48, "wide", **(common | {"train": False}))
    assert torch.equal(val[3][0], val[3][0]) and val[3][1] == 3


def test_resume_of_a_checkpoint_from_before_varieties(tmp_path):
    """A checkpoint written before --variety existed was made with the classic generator."""
    base = TrainConfig(out=str(tmp_path / "a"), synthetic=9, synthetic_val=9, epochs=2, variety="classic",
                       classes=("static", "growing", "shrinking"), seed=5, keep_checkpoints=True, **TINY)
    training.train(replace(base, epochs=1))
    ckpt = tmp_path / "a" / "checkpoints" / "last.pt"
    state = torch.load(ckpt, weights_only=True)
    import json

    fp = json.loads(state["fingerprint"])
    fp["epochs"] = 2
    del fp["variety"]  # as an older cost-cli wrote it
    state["fingerprint"] = json.dumps(fp, sort_keys=True)
    torch.save(state, ckpt)
    with pytest.raises(ResumeError, match="variety"):
        training.train(replace(base, resume=True, variety="wide"))
    result = training.train(replace(base, resume=True))
    assert [r["epoch"] for r in result.history] == [1, 2]


def test_variety_option(tmp_path):
    r = _cost("train", "--synthetic", "10", "--out", str(tmp_path / "m"), "--variety", "fancy", "--device", "cpu")
    assert r.returncode == 2 and "--variety 'fancy'" in r.stderr and "Traceback" not in r.stderr
    cfg = TrainConfig(out="x", synthetic=10)
    assert cfg.variety == "wide" and cfg.fingerprint()["variety"] == "wide"
    assert "variety" not in TrainConfig(out="x", data="d").fingerprint()  # means nothing for real clips


@pytest.mark.parametrize("cores,workers", [(1, 0), (2, 1), (8, 7)])
def test_default_workers(monkeypatch, cores, workers):
    from cost_cli.training import datasets

    monkeypatch.setattr(datasets.os, "cpu_count", lambda: cores)
    assert datasets._default_workers(torch.device("cuda" if cores == 8 else "cpu")) == workers


def test_an_unreadable_sub_folder_of_a_class_is_an_error_not_fewer_clips(tmp_path):
    """A class folder's sub-folder that cannot be read stops training with one line naming it,
    instead of training on the rest of that class's clips in silence."""
    import os
    import shutil
    import sys

    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: root's override would read every folder")
    prefix = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"] if os.geteuid() == 0 else []
    data = tmp_path / "data"
    for label in ("static", "growing"):
        _clips(data, label, n=1)
    (data / "growing" / "more").mkdir()
    synth.write_video(data / "growing" / "more" / "c0.mp4", synth.render_clip("growing", 6, np.random.default_rng(1), 48, 48), 25)
    (data / "static" / ".hidden").mkdir()  # hidden entries are skipped, as by cost label
    synth.write_video(data / "static" / ".hidden" / "h.mp4", synth.render_clip("static", 6, np.random.default_rng(0), 48, 48), 25)
    code = ("import sys\nfrom cost_cli.errors import DataError\nfrom cost_cli.training.data import scan_folder\n"
            "try:\n    labels, items = scan_folder(sys.argv[1], 'opencv')\n"
            "    print(sorted(it.path.rsplit('data/', 1)[1] for it in items))\n"
            "except DataError as e:\n    print('DataError', e.message)\n")
    run = lambda: subprocess.run([*prefix, sys.executable, "-c", code, str(data)], capture_output=True,
                                 text=True, timeout=120)
    r = run()
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['growing/c0.mp4', 'growing/more/c0.mp4', 'static/c0.mp4']"
    os.chmod(data / "growing" / "more", 0)
    try:
        r = run()
    finally:
        os.chmod(data / "growing" / "more", 0o755)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (f"DataError class 'growing': {data / 'growing' / 'more'}: "
                                "cannot read this folder (permission denied)"), r.stdout
