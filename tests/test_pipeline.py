"""The local engine's loop with batches in flight: on a GPU a batch's results come back after
the loop has gone on (PendingBatch); on a CPU they are ready at once. Here results are held back
on the CPU so that the loop's in-flight path (and its dropping of results from before a
restart or failure) runs, and the rows must equal a normal run's."""

import shutil

import pytest

from media import ffmpeg, make_video, pattern_frames


@pytest.fixture(scope="module")
def mixed_folder(video_set, tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline_in")
    for name in ("h264", "vp9", "mjpeg", "short", "odd_lossless"):
        shutil.copy(video_set[name], root / video_set[name].name)
    tmp = tmp_path_factory.mktemp("pipeline_tmp")
    # 10 fps then 30 fps in one Matroska file: OpenCV under-counts, the decoder restarts it
    a = make_video(tmp / "a.mkv", pattern_frames(40, 64, 80, seed=1), fps=10, codec="h264-lossless")
    b = make_video(tmp / "b.mkv", pattern_frames(120, 64, 80, seed=2), fps=30, codec="h264-lossless")
    (tmp / "list.txt").write_text(f"file '{a}'\nfile '{b}'\n")
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(tmp / "list.txt"), "-c", "copy", str(root / "restart.mkv"))
    full = make_video(tmp / "full.mkv", pattern_frames(200, 64, 80), codec="h264-lossless")
    data = full.read_bytes()
    (root / "cut.mkv").write_bytes(data[: int(len(data) * 0.6)])  # fails part-way
    return root


def run(folder, model, out, views):
    from cost_cli.pipeline import LabelConfig, run_label
    from cost_cli.sampling import parse_stride

    cfg = LabelConfig(inputs=[str(folder)], model=str(model), out=str(out), fmt="csv",
                      stride=parse_stride(None), merge=False, batch_size=3, workers=2, progress=False,
                      views=views)
    return run_label(cfg)


@pytest.mark.parametrize("views", [False, True])
def test_results_in_flight_give_the_same_rows(mixed_folder, tiny_model_dir, tmp_path, monkeypatch, views):
    from cost_cli import inference
    from cost_cli.engines import local

    normal = run(mixed_folder, tiny_model_dir, tmp_path / "normal.csv", views)

    held = {"submitted": 0, "deferred": 0, "max_in_flight": 0}
    original = inference.Predictor.submit

    outstanding = set()

    class Held(inference.PendingBatch):
        def __init__(self, done, polls):
            self.done, self.polls = done, polls

        def ready(self):
            if self.polls > 0:
                self.polls -= 1
                held["deferred"] += 1
                return False
            return True

        def result(self):
            outstanding.discard(id(self))
            return self.done.result()

    def submit(self, windows):
        held["submitted"] += 1
        handle = Held(original(self, windows), polls=3)
        outstanding.add(id(handle))
        held["max_in_flight"] = max(held["max_in_flight"], len(outstanding))
        return handle

    monkeypatch.setattr(inference.Predictor, "submit", submit)
    deferred = run(mixed_folder, tiny_model_dir, tmp_path / "deferred.csv", views)

    assert held["deferred"] > 0 and held["submitted"] > 3
    assert (deferred.labeled, deferred.failed) == (normal.labeled, normal.failed) == (6, 1)
    assert (tmp_path / "deferred.csv").read_bytes() == (tmp_path / "normal.csv").read_bytes()
    # the loop went on receiving windows with a batch unanswered, up to the cap and never past it
    assert held["max_in_flight"] == local.MAX_IN_FLIGHT == 2


class _ScriptedPool:
    """Stands in for the decode workers: hands out scripted events, one per poll."""

    def __init__(self, script):
        self.script = list(script)
        self.workers = [None]

    def submit(self, index, path):
        pass

    @property
    def busy(self):
        return bool(self.script)

    def poll(self, timeout):
        return [self.script.pop(0)] if self.script else []


class _SlowPredictor:
    """Probabilities that say which clip they came from; a batch is ready only after
    ``polls`` checks, so batches are still in flight when later events arrive."""

    batch_size = 2

    def __init__(self, polls):
        self.polls = polls
        self.batches = 0

    def submit(self, windows):
        import numpy as np

        from cost_cli.inference import PendingBatch

        self.batches += 1
        probs = windows.reshape(windows.shape[0], -1)[:, :2].astype(np.float32)
        polls = [self.polls]

        class Handle(PendingBatch):
            def ready(self_inner):
                polls[0] -= 1
                return polls[0] < 0

            def result(self_inner):
                return probs, None

        return Handle(None, None, None)


def _clip(value):
    import numpy as np

    return np.full((1, 1, 1, 1, 2), value, dtype=np.uint8)


@pytest.mark.parametrize("polls", [0, 2, 50])
def test_results_from_before_a_restart_are_dropped(polls):
    import numpy as np

    from cost_cli.engines.assembler import Assembler, VideoJob
    from cost_cli.engines.local import loop

    job = VideoJob(0, "v.mp4", "/abs/v.mp4")
    script = [("meta", 0, {"windows": 3}),
              ("window", 0, (0, _clip(1))), ("window", 0, (1, _clip(1))),
              ("window", 0, (2, _clip(1))),
              ("restart", 0, {"num_frames": 40}),
              ("meta", 0, {"windows": 2}),
              ("window", 0, (0, _clip(2))), ("window", 0, (1, _clip(2))),
              ("done", 0, {"bounds": []})]
    predictor = _SlowPredictor(polls)
    out = list(loop([job], _ScriptedPool(script), predictor, Assembler([job], views=False)))
    assert len(out) == 1 and out[0].job == job and out[0].error is None and out[0].windows == 2
    assert np.array_equal(out[0].probs, np.full((2, 2), 2.0, dtype=np.float32))  # only the new windows
    assert predictor.batches >= 2  # the first batch (old windows) did run, and was dropped
