"""--devices: one model replica per device, batches split between them, the same rows as one
device. No machine here has two GPUs, so the replicas are CPU replicas (``cpu,cpu``): the same
code path (MultiPredictor, its threads, per-device fixed batches) that ``0,1`` takes."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from cost_cli.errors import ConfigError, UsageError
from cost_cli.inference import MultiPredictor, Predictor, pick_devices

ENV = dict(os.environ, COST_DEBUG="")


def cost(*args):
    return subprocess.run([sys.executable, "-m", "cost_cli", *map(str, args)], capture_output=True, env=ENV)


@pytest.fixture(scope="module")
def some_videos(video_set, tmp_path_factory):
    root = tmp_path_factory.mktemp("devices_in")
    for name in ("h264", "hevc", "mpeg4", "vp9", "mjpeg", "with_audio"):
        if name in video_set:
            os.symlink(video_set[name], root / video_set[name].name)
    return root


def test_pick_devices():
    assert pick_devices("cpu,cpu") == [torch.device("cpu")] * 2
    assert pick_devices(" cpu , cpu ,cpu") == [torch.device("cpu")] * 3
    with pytest.raises(UsageError):
        pick_devices(",")
    with pytest.raises(UsageError):
        pick_devices("cpu,tpu")
    if not torch.cuda.is_available():
        for spec in ("0,1", "all", "cuda:0,cuda:1", "cpu,0"):
            with pytest.raises(ConfigError):
                pick_devices(spec)


class Counting(Predictor):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.calls = []

    def __call__(self, windows):
        self.calls.append((threading.current_thread().name, windows.shape[0]))
        return super().__call__(windows)


def test_multi_predictor_splits_batches_and_equals_one_device(tiny_model_dir):
    from cost_cli.model.loading import load_model

    model = load_model(str(tiny_model_dir))
    cpu = torch.device("cpu")
    one = Predictor(model, cpu, torch.float32, 2, views=True)
    replicas = [Counting(model, cpu, torch.float32, 2, views=True) for _ in range(3)]
    multi = MultiPredictor(replicas)
    assert multi.batch_size == 6
    rng = np.random.default_rng(1)
    windows = rng.integers(0, 256, size=(5, 1, 8, 56, 56, 3), dtype=np.uint8)
    probs, shares = multi(windows)
    # each replica got its own per-device batch, in its own thread; the last one nothing
    assert [[n for _, n in r.calls] for r in replicas] == [[2], [2], [1]]
    assert all(name.startswith("cost-device") for r in replicas for name, _ in r.calls)
    ref = [one(windows[i:i + 2]) for i in range(0, 5, 2)]
    assert np.array_equal(probs, np.concatenate([p for p, _ in ref]))
    assert np.array_equal(shares, np.concatenate([s for _, s in ref]))
    multi.close()


@pytest.mark.parametrize("fmt,extra", [("csv", []), ("json", ["--views", "--no-merge"])])
def test_label_with_two_replicas_writes_the_same_rows(some_videos, tiny_model_dir, tmp_path, fmt, extra):
    one = tmp_path / f"one.{fmt}"
    two = tmp_path / f"two.{fmt}"
    r1 = cost("label", some_videos, "--model", tiny_model_dir, "-o", one, "--device", "cpu", "-b", "2", *extra)
    r2 = cost("label", some_videos, "--model", tiny_model_dir, "-o", two, "--devices", "cpu,cpu", "-b", "2",
              *extra)
    assert r1.returncode == 0, r1.stderr.decode()
    assert r2.returncode == 0, r2.stderr.decode()
    assert one.read_bytes() == two.read_bytes()
    assert len(one.read_bytes()) > 100


@pytest.mark.parametrize("args,message", [
    (["--devices", "cpu,cpu", "--device", "cpu"], "not both"),
    (["--devices", "cpu,cpu", "--engine", "ray"], "local engine"),
    (["--devices", ","], "--devices"),
])
def test_devices_usage_errors(some_videos, tiny_model_dir, args, message):
    r = cost("label", some_videos, "--model", tiny_model_dir, *args)
    assert r.returncode == 2
    err = r.stderr.decode()
    assert message in err and "Traceback" not in err
