"""--devices: one model replica per device, batches split between them, the same rows as one
device. No machine here has two GPUs, so the replicas are CPU replicas (``cpu,cpu``): the same
code path (MultiPredictor, its threads, per-device fixed batches) that ``0,1`` takes."""

import os
import threading

import numpy as np
import pytest
import torch

from cost_cli.errors import ConfigError, UsageError
from cost_cli.devices import pick_devices
from cost_cli.inference import MultiPredictor, Predictor
import clirun

ENV = dict(os.environ, COST_DEBUG="")


def cost(*args):
    return clirun.cost(*args, env=ENV)


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
    from cost_cli.loader import load_model

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


def _cuda_check(devices):
    """Batches submitted back to back on ``devices`` give what one synchronous batch at a time
    gives on the CPU (to fp32/reduced-precision tolerance)."""
    from cost_cli.model.folder import ModelConfig
    from cost_cli.model.resnet3d_cost import CoSTRecognizer

    torch.manual_seed(0)
    model = CoSTRecognizer("costb-tiny", 5).eval()
    model.config = ModelConfig(arch="costb-tiny", num_classes=5, clip_len=8, frame_interval=2,
                               short_side=64, crop_size=56)
    cpu = Predictor(model, torch.device("cpu"), torch.float32, 2, views=True)
    gpu = [Predictor(model, d, torch.float32, 2, views=True) for d in devices]
    pred = gpu[0] if len(gpu) == 1 else MultiPredictor(gpu)
    rng = np.random.default_rng(2)
    batches = [rng.integers(0, 256, size=(pred.batch_size, 1, 8, 56, 56, 3), dtype=np.uint8)
               for _ in range(4)]
    handles = [pred.submit(b) for b in batches]  # all queued before any is read
    for b, h in zip(batches, handles):
        probs, shares = h.result()
        ref = np.concatenate([cpu(b[i:i + 2])[0] for i in range(0, len(b), 2)])
        assert np.abs(probs - ref).max() < 1e-4
        assert shares.shape == (len(b), 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_in_flight_read_back_right():
    _cuda_check([torch.device("cuda", torch.cuda.device_count() - 1)])  # the last GPU: not the default


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_two_gpus_in_flight_read_back_right():
    _cuda_check([torch.device("cuda", 0), torch.device("cuda", 1)])


def test_multi_predictor_runs_batches_in_flight(tiny_model_dir):
    """Two batches submitted before either is read: each replica runs them one after the other
    (one thread per device), and both come back right."""
    from cost_cli.loader import load_model

    model = load_model(str(tiny_model_dir))
    cpu = torch.device("cpu")
    one = Predictor(model, cpu, torch.float32, 2, views=True)
    multi = MultiPredictor([Predictor(model, cpu, torch.float32, 2, views=True) for _ in range(2)])
    rng = np.random.default_rng(3)
    batches = [rng.integers(0, 256, size=(4, 1, 8, 56, 56, 3), dtype=np.uint8) for _ in range(3)]
    handles = [multi.submit(b) for b in batches]
    for b, h in zip(batches, handles):
        probs, shares = h.result()
        ref = [one(b[i:i + 2]) for i in (0, 2)]
        assert np.array_equal(probs, np.concatenate([p for p, _ in ref]))
        assert np.array_equal(shares, np.concatenate([s for _, s in ref]))
    with pytest.raises(ValueError):
        multi.submit(np.zeros((5, 1, 8, 56, 56, 3), dtype=np.uint8))
    multi.close()
