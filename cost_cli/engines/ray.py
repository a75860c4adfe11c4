"""The Ray engine: the same job as the local engine, executed on a Ray cluster with Ray Data.

The driver (this process) lists the videos; Ray Data streams them through two actor pools:

    from_items(videos) -> map_batches(_Decoder)  CPU actors: decode + window preparation
                       -> map_batches(_Model)    one replica per GPU (CPU actors without GPUs)
                       -> iter_batches()         back here: rows reassembled per video

and :func:`run` feeds the rows that come back to the same :class:`Assembler` as the local engine
and yields its finished videos, so the writers, the journal and resume are the local engine's own.

Failures. Each decoder actor decodes inside a supervised subprocess (``workers.DecodePool``),
so a file that segfaults or hangs its decoder becomes that video's error row; it never kills
the actor, which Ray would otherwise restart and retry forever on the same file. A worker lost
for another reason (node down, OOM killer, ``kill -9``) is restarted and its task retried by Ray
a bounded number of times; retried tasks re-emit rows the driver may already hold, so the
driver keys every window by (video, decode attempt, window index) and ignores repeats, and a
video that never comes back is reported as failed rather than dropped.

Rows between the stages carry ``index`` (the video's position in the work list), ``kind``
(meta / window / done / error; a window becomes a ``result`` after the model), ``attempt`` (the
decode attempt: it grows when the decoder learns the true frame count and starts over), ``k``
(window index) and ``data`` (bytes: a window's uint8 pixels, its pickled (probs, shares) after
the model, or a pickled dict). Paths travel as bytes, so names that are not valid UTF-8 survive
Arrow.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import sys

import numpy as np

from .. import faults
from ..errors import ConfigError, raise_if_signalled
from .assembler import Assembler, Event, VideoJob

RETRIES = 3  # restarts of a lost actor, and retries of its task, before the run gives up
POLL_S = 0.1


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401 - the Data library is the part we need
    except ImportError:
        raise ConfigError("--engine ray needs Ray", hint="pip install 'cost-cli[ray]'") from None
    return ray


class Session:
    """A run's connection to the Ray cluster: joined (or a local instance started for the run)
    when made, left by :meth:`close` (a local instance this run started is shut down). The
    model's device follows the cluster's GPUs, not the machine running ``cost label``."""

    def __init__(self, cfg) -> None:
        self.ray = _import_ray()
        self.started = _connect(self.ray, cfg)
        self.gpus = int(self.ray.cluster_resources().get("GPU", 0))

    def close(self) -> None:
        if self.started:
            self.started = False
            self.ray.shutdown()


def run(cfg, runtime, jobs: list[VideoJob], model, session: Session, watch=None, features: bool = False):
    """The Ray engine: yields each video once it is finished, in any order (every job exactly
    once, finished or with ``error`` set). ``watch()`` is called between streamed batches; it
    raises to stop the run (the reader of stdout went away). ``features``: the model actors
    return pooled features instead of probabilities."""
    yield from _run(session.ray, cfg, runtime, jobs, model, watch, features)


def _connect(ray, cfg) -> bool:
    """Join the cluster (or start a local instance); True if this call initialised Ray."""
    from ..environment import debug_enabled, scoped_env

    if ray.is_initialized():  # a caller using the library inside its own Ray job
        return False
    debug = debug_enabled()
    address = cfg.ray_address or os.environ.get("RAY_ADDRESS") or None
    quiet = dict(include_dashboard=False, logging_level=logging.INFO if debug else logging.ERROR,
                 log_to_driver=debug, configure_logging=True)
    if address:
        try:
            with _quiet_stderr(not debug):
                ray.init(address=address, **quiet)
        except Exception as exc:  # noqa: BLE001 - Ray raises many types for an unreachable cluster
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"--ray-address {address}: cannot connect ({first})",
                              hint="is the cluster up? `ray status` on the head node shows it") from None
    else:
        cpus = max(os.cpu_count() or 1, cfg.workers + 1 if cfg.workers else 0)
        with _quiet_stderr(not debug), scoped_env(RAY_USAGE_STATS_ENABLED="0"):
            ray.init(num_cpus=cpus, **quiet)
    return True


@contextlib.contextmanager
def _quiet_stderr(enabled: bool):
    """Keep Ray's C++ start-up notices off the user's stderr (COST_DEBUG=1 shows them).

    Ray's core prints straight to file descriptor 2, outside Python's logging; its level is
    lowered to fatal, and the one line announcing that, printed while Ray starts, is dropped.
    Errors still surface as exceptions.
    """
    from ..environment import scoped_env

    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        with scoped_env(RAY_BACKEND_LOG_LEVEL="fatal"):
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _plan(ray, cfg, n_videos: int) -> dict:
    """How many decoder and model actors, and with which resources."""
    res = ray.cluster_resources()
    cpus = max(1, int(res.get("CPU", 1)))
    gpus = int(res.get("GPU", 0)) if cfg.device in ("auto", "cuda") or cfg.device.startswith("cuda") else 0
    if gpus:
        models, model_res = gpus, {"num_gpus": 1, "num_cpus": 1}
    else:
        models, model_res = max(1, cpus // 8), {"num_cpus": 1}
    decoders = cfg.workers or max(1, cpus - models)
    return {"decoders": max(1, min(decoders, n_videos)), "models": models, "model_res": model_res,
            "gpus": gpus}


def _run(ray, cfg, runtime, jobs, model, watch=None, features: bool = False):
    from ray.data import DataContext

    from ..workers import DecodeSettings

    ctx = DataContext.get_current()
    ctx.enable_progress_bars = False  # the pipeline draws its own progress on stderr
    ctx.print_on_execution_start = False
    ctx.enable_auto_log_stats = False
    ctx.max_errored_blocks = 0  # never drop a block silently: an error fails the run, resume redoes
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)

    mc = model.config
    settings = DecodeSettings.for_run(cfg, mc)
    shape = (cfg.crops, mc.clip_len, mc.crop_size, mc.crop_size, 3)
    plan = _plan(ray, cfg, len(jobs))
    model_ref = ray.put(_to_cpu(model))
    batch = runtime.batch_size

    items = [{"index": job.index, "path": os.fsencode(job.path)} for job in jobs]
    ds = ray.data.from_items(items, override_num_blocks=min(len(items), 1000))
    ds = _map_batches(ds, _Decoder, batch_size=1, batch_format="numpy", concurrency=plan["decoders"],
                      num_cpus=1, fn_constructor_args=(settings, cfg.decode_timeout, batch))
    ds = _map_batches(ds, _Model, batch_size=batch * 4, batch_format="numpy", concurrency=plan["models"],
                      fn_constructor_args=(model_ref, runtime.device.type, runtime.dtype, batch, cfg.views, shape,
                                           features),
                      **plan["model_res"])
    yield from _collect(ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2),
                        Assembler(jobs, cfg.views), watch)


def _map_batches(ds, fn, **kwargs):
    """``ds.map_batches`` on an actor pool whose restarts and retries are bounded.

    Ray Data's default is to restart a dead actor and retry its task forever; bounded, a
    worker lost now and then is covered while a batch that kills every worker ends the run
    (resume then carries on). Ray deprecates passing these as extra keyword arguments without a
    named replacement yet: the warning is silenced, and a Ray that refuses them gets the defaults.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            return ds.map_batches(fn, max_restarts=RETRIES, max_task_retries=RETRIES, **kwargs)
        except TypeError:  # pragma: no cover - a future Ray without ray_remote_args
            return ds.map_batches(fn, **kwargs)


def _to_cpu(model):
    import copy

    import torch

    if any(p.device.type != "cpu" for p in model.parameters()):
        model = copy.deepcopy(model).to(torch.device("cpu"))
    return model


def _collect(batches, asm: Assembler, watch=None):
    """Feed the streamed rows to the assembler; yield each finished video exactly once."""
    for batch in batches:
        raise_if_signalled()
        if watch is not None:
            watch()
        for index, kind, attempt, k, data in zip(batch["index"], batch["kind"], batch["attempt"],
                                                 batch["k"], batch["data"]):
            result = asm.feed(Event(str(kind), int(index), int(attempt), int(k), pickle.loads(data)))
            if result is not None:
                yield result
    for index in asm.unfinished:  # pragma: no cover - Ray's retries should make this unreachable
        yield asm.feed(Event("error", index, payload={
            "reason": "no result came back from the Ray cluster (worker lost?)", "error_class": "EngineError"}))


def _rows(rows: list[tuple]) -> dict[str, np.ndarray]:
    """A batch in the inter-stage schema from (index, kind, attempt, k, data) tuples."""
    data = np.empty(len(rows), dtype=object)
    data[:] = [r[4] for r in rows]
    return {"index": np.array([r[0] for r in rows], dtype=np.int64),
            "kind": np.array([r[1] for r in rows], dtype=object),
            "attempt": np.array([r[2] for r in rows], dtype=np.int64),
            "k": np.array([r[3] for r in rows], dtype=np.int64),
            "data": data}


class _Decoder:
    """A Ray Data CPU actor: videos in, meta/window/done/error rows out (streamed).

    Decoding runs in one supervised subprocess kept for the actor's life, so a decoder crash
    or hang is contained to one video and reported as its error row.
    """

    def __init__(self, settings, decode_timeout: float, chunk: int) -> None:
        self.settings = settings
        self.timeout = decode_timeout
        self.chunk = max(1, chunk)
        self.pool = None

    def __call__(self, batch):
        for index, path in zip(batch["index"], batch["path"]):
            yield from self._one(int(index), os.fsdecode(bytes(path)))

    def _one(self, index: int, path: str):
        from ..workers import DecodePool

        if self.pool is None:
            self.pool = DecodePool(self.settings, 1, self.timeout)
        self.pool.submit(index, path)
        attempt, rows, finished, windows = 0, [], False, 0
        while not finished:
            for kind, key, payload in self.pool.poll(POLL_S):
                if key != index or finished:
                    continue
                if kind == "window":
                    k, clip = payload
                    rows.append((index, "window", attempt, int(k), np.ascontiguousarray(clip).tobytes()))
                    windows += 1
                else:
                    if kind == "restart":  # windows sent so far are void: the next attempt begins
                        attempt += 1
                    rows.append((index, kind, attempt, -1, pickle.dumps(payload, protocol=5)))
                    finished = kind in ("done", "error")
            if rows and (finished or len(rows) >= self.chunk):
                yield _rows(rows)
                rows = []
                if windows:
                    faults.ray_kill_once("decode", path)

    def __del__(self):
        if self.pool is not None:
            try:
                self.pool.close()
            except Exception:  # noqa: BLE001 - best effort at interpreter exit
                pass


class _Model:
    """A Ray Data actor holding one model replica: window rows in, probability rows out.

    Other rows (meta, done, error) pass through unchanged. Batches run through the same
    ``Predictor`` as the local engine (fixed, padded batch size), so rows match locally made ones.
    """

    def __init__(self, model, device_type: str, dtype, batch_size: int, views: bool, shape: tuple,
                 features: bool = False) -> None:
        import ray
        import torch

        from ..inference import Predictor

        if isinstance(model, ray.ObjectRef):
            model = ray.get(model)
        # Ray sets CUDA_VISIBLE_DEVICES to this actor's GPU; the run resolved cuda or cpu
        gpu = device_type == "cuda" and bool(ray.get_gpu_ids()) and torch.cuda.is_available()
        device = torch.device("cuda" if gpu else "cpu")
        # this actor process exists for the model alone: autotune cuDNN for its fixed batch shape
        torch.backends.cudnn.benchmark = gpu
        self.predictor = Predictor(model, device, dtype, batch_size, views=views, features=features)
        self.batch_size = batch_size
        self.shape = tuple(shape)

    def __call__(self, batch):
        kinds = np.array(batch["kind"], dtype=object)
        data = np.empty(len(kinds), dtype=object)
        data[:] = list(batch["data"])
        win = [i for i, kind in enumerate(kinds) if kind == "window"]
        if win:
            faults.ray_kill_once("model", None)
        for start in range(0, len(win), self.batch_size):
            idx = win[start:start + self.batch_size]
            clips = np.stack([np.frombuffer(data[i], dtype=np.uint8).reshape(self.shape) for i in idx])
            probs, shares = self.predictor(clips)
            for j, i in enumerate(idx):
                data[i] = pickle.dumps((probs[j], shares[j] if shares is not None else None), protocol=5)
                kinds[i] = "result"
        return {"index": batch["index"], "kind": kinds, "attempt": batch["attempt"], "k": batch["k"],
                "data": data}
