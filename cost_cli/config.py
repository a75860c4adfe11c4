"""The settings of a ``cost label`` run: one frozen :class:`LabelConfig`, built and checked once
from the options; where the results go (:func:`output_kind`); the devices, precision and batch
size the run uses, resolved in one place (:func:`resolve_runtime`); and the fingerprint that
resume compares (:func:`fingerprint`).

No torch at import time: ``cost --help`` and the option checks stay fast.
"""

from __future__ import annotations

import math
import os
import re
import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .decode import DECODERS
from .devices import PRECISIONS
from .errors import ConfigError, UsageError
from .sampling import Stride
from .writers import FORMATS, SCHEMA_VERSION

if TYPE_CHECKING:
    import torch

ENGINES = ("local", "ray")
CROPS = (1, 3)
NO_INPUTS = "no inputs: give files, folders, globs, or - to read paths from stdin"
# measured on 2 CPU cores next to the decode workers: batch 4 ran 1.75x faster than 8 or 16
# (activations of bigger batches spill the caches); GPUs want big batches (BENCHMARKS.md)
AUTO_BATCH = {"cpu": 4, "cuda": 32, "mps": 8}


# names of descriptors the process already holds: streams whatever file they point at
_DESCRIPTOR = re.compile(r"/dev/(stdout|stderr|stdin|fd/\d+)|/proc/(self|\d+)/fd/\d+")


def output_kind(out: str | None) -> str:
    """``stdout`` (no --out, or ``-``); ``stream`` (a descriptor's name such as /dev/stdout or
    /dev/fd/N, or an existing file that is not a regular file: /dev/null, a FIFO, a terminal, a
    socket), written as it goes like stdout, with no journal and no lock beside it; else ``file``
    (journaled and resumable; a regular file under /dev/shm is a file like any other)."""
    if out is None or out == "-":
        return "stdout"
    if _DESCRIPTOR.fullmatch(out):
        return "stream"
    try:
        st = os.stat(out)
    except OSError:
        return "file"
    return "file" if stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode) else "stream"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``--shard I/N`` -> (I, N)."""
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected I/N, e.g. 3/8") from None
    return i, n


@dataclass(frozen=True)
class LabelConfig:
    """Every setting of a ``cost label`` run, checked when it is made (UsageError naming the
    option, before any work)."""

    inputs: tuple[str, ...]
    model: str | None = None
    out: str | None = None  # None or '-' = stdout
    fmt: str = "csv"
    stride: Stride = field(default_factory=Stride)
    crops: int = 1
    topk: int = 5
    merge: bool = True
    min_score: float = 0.0
    threshold: float | None = None  # multi-label models: None = the model's own, else 0.5
    smooth: float | None = None  # None = the model's own setting (config.json "smooth", else 0)
    batch_size: int = 0  # 0 = by device (AUTO_BATCH)
    device: str = "auto"
    precision: str = "auto"
    workers: int = 0  # 0 = one per core
    decoder: str = "auto"
    decode_timeout: float = 60.0
    overwrite: bool = False
    retry_failed: bool = False
    errors_file: str | None = None
    views: bool = False
    null: bool = False
    progress: bool | None = None  # None = only on a terminal
    engine: str = "local"
    ray_address: str | None = None
    shard: tuple[int, int] | None = None  # (I, N), 1-based
    compile: bool = False
    devices: str | None = None  # --devices: several model replicas (e.g. "0,1")

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        self.check()

    @property
    def to_stdout(self) -> bool:
        return self.out is None or self.out == "-"

    @property
    def streamed(self) -> bool:
        """Results written as they come, with no journal and no resume: stdout, or an --out that
        is not a regular file (see :func:`output_kind`)."""
        return output_kind(self.out) != "file"

    def check(self) -> None:
        """Reject conflicting or impossible options."""
        if self.fmt not in FORMATS:
            raise UsageError(f"--format {self.fmt!r}: expected {', '.join(FORMATS)}")
        if self.crops not in CROPS:
            raise UsageError(f"--crops must be 1 or 3, not {self.crops}")
        if self.topk < 1:
            raise UsageError("--topk must be at least 1")
        if self.batch_size < 0:
            raise UsageError("--batch-size must be 0 (by device) or more")
        if self.workers < 0:
            raise UsageError("--workers must be 0 (one per core) or more")
        if not 0.0 <= self.min_score <= 1.0:
            raise UsageError("--min-score must be between 0 and 1")
        if self.threshold is not None and not (math.isfinite(self.threshold) and 0.0 < self.threshold < 1.0):
            raise UsageError(f"--threshold must be between 0 and 1, not {self.threshold:g}")
        if self.smooth is not None and not (math.isfinite(self.smooth) and self.smooth >= 0):
            raise UsageError(f"--smooth must be 0 (each window's own top-1) or a positive number of nats, "
                             f"not {self.smooth:g}")
        if not math.isfinite(self.decode_timeout) or self.decode_timeout <= 0:
            raise UsageError(f"--decode-timeout must be a positive number of seconds, not {self.decode_timeout:g}")
        if self.decoder not in DECODERS:
            raise UsageError(f"--decoder {self.decoder!r}: expected {', '.join(DECODERS)}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"--precision {self.precision!r}: expected one of {', '.join(PRECISIONS)}")
        if self.streamed and self.overwrite:
            raise UsageError("--overwrite needs --out FILE (results on stdout or a stream are never resumed)")
        if self.streamed and self.retry_failed:
            raise UsageError("--retry-failed needs --out FILE (results on stdout or a stream are never resumed)")
        if not self.inputs:
            raise UsageError(NO_INPUTS)
        if self.inputs.count("-") > 1:
            raise UsageError("- (stdin) given more than once")
        if self.engine not in ENGINES:
            raise UsageError(f"--engine {self.engine!r}: expected local or ray")
        if self.devices is not None:
            if self.device not in ("auto", ""):
                raise UsageError("give --device or --devices, not both")
            if self.engine == "ray":
                raise UsageError("--devices is for the local engine; with --engine ray every GPU of "
                                 "the cluster gets its own model actor")
        if self.ray_address and self.engine != "ray":
            raise UsageError("--ray-address needs --engine ray")
        if self.shard is not None:
            i, n = self.shard
            if not (n >= 1 and 1 <= i <= n):
                raise UsageError(f"--shard {i}/{n}: I must be between 1 and N")
        if not self.streamed:
            check_output_folder(self.out, "--out")
        if self.errors_file not in (None, "-") and output_kind(self.errors_file) == "file":
            check_output_folder(self.errors_file, "--errors")
        # a --model that names nothing is a usage error before any work (no torch imported yet)
        from .resolve import classify

        classify(self.model)


def check_output_folder(path: str, option: str) -> None:
    """An output file's folder must exist (and be a folder): a usage error before any work."""
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    if not os.path.isdir(parent):
        what = "is not a folder" if os.path.exists(parent) else "does not exist"
        raise UsageError(f"{option} {path}: the folder {parent} {what}")


@dataclass(frozen=True)
class Runtime:
    """Where and how the model runs: its replicas' devices, precision and batch size."""

    devices: tuple  # torch.device, one per model replica
    dtype: "torch.dtype"
    batch_size: int

    @property
    def device(self) -> "torch.device":
        return self.devices[0]

    @property
    def precision_class(self) -> str:
        """What resume compares: full precision or reduced."""
        import torch

        return "fp32" if self.dtype == torch.float32 else "reduced"


def resolve_runtime(cfg: LabelConfig, cluster_gpus: int | None = None) -> Runtime:
    """The devices, precision and batch size of a run, from --device/--devices, --precision and
    --batch-size. ``cluster_gpus`` (``--engine ray``): the model runs on the cluster's machines,
    not necessarily on this one (often a CPU-only head node), so the cluster's GPU count decides.
    """
    import torch

    from .devices import pick_device, pick_devices, pick_dtype

    if cluster_gpus is not None:
        spec = (cfg.device or "auto").lower()
        if spec == "cpu" or (spec == "auto" and not cluster_gpus):
            device = torch.device("cpu")
        elif spec == "auto" or spec == "cuda" or spec.startswith("cuda:"):
            if not cluster_gpus:
                raise ConfigError(f"--device {spec}: the Ray cluster has no GPU",
                                  hint="use --device cpu (or auto), or add GPU nodes")
            device = torch.device("cuda")  # Ray gives each model actor its own GPU
        else:
            raise UsageError(f"--device {spec!r}: with --engine ray, expected auto, cpu or cuda")
        devices = (device,)
        if cfg.precision == "auto" and device.type == "cuda":
            dtype = torch.bfloat16  # each GPU actor checks it against fp32 (fp16, fp32 if it fails)
        else:
            dtype = pick_dtype(cfg.precision, torch.device("cpu"))
    else:
        devices = tuple(pick_devices(cfg.devices)) if cfg.devices is not None else (pick_device(cfg.device),)
        dtype = pick_dtype(cfg.precision, devices[0])
    batch = cfg.batch_size or AUTO_BATCH.get(devices[0].type, 8)
    return Runtime(devices, dtype, batch)


DEFAULT_THRESHOLD = 0.5


def effective_threshold(cfg: LabelConfig, model) -> float | None:
    """A multi-label model's threshold: --threshold, else the model's own, else 0.5; None for a
    single-label model (its rows have no ``labels``)."""
    if not getattr(model.config, "multi_label", False):
        return None
    for value in (cfg.threshold, getattr(model.config, "threshold", None)):
        if value is not None:
            return float(value)
    return DEFAULT_THRESHOLD


def effective_smooth(cfg: LabelConfig, model) -> float:
    """--smooth, else the model's own setting (config.json ``smooth``), else 0."""
    return float(cfg.smooth) if cfg.smooth is not None else float(getattr(model.config, "smooth", 0.0))


def fingerprint(cfg: LabelConfig, model, precision_class: str) -> dict:
    """Everything that changes the rows; resume refuses to mix runs whose fingerprints differ."""
    c = model.config
    return {
        "schema_version": SCHEMA_VERSION,
        "model": str(getattr(model, "source", "")),
        "weights_sha256": getattr(model, "weights_sha256", ""),
        "arch": c.arch, "clip_len": c.clip_len, "frame_interval": c.frame_interval,
        "short_side": c.short_side, "crop_size": c.crop_size,
        "mean": list(c.mean), "std": list(c.std),
        "stride": cfg.stride.describe(), "crops": cfg.crops, "precision": precision_class,
        "topk": cfg.topk, "merge": cfg.merge, "min_score": cfg.min_score, "smooth": effective_smooth(cfg, model),
        "views": cfg.views,
        "decoder": cfg.decoder,
        # what reads another part of the video or scores it otherwise: only where it is not the
        # default, so a run of the earlier models keeps its fingerprint (and resumes)
        **({"sampling": c.sampling} if getattr(c, "sampling", "dense") != "dense" else {}),
        **({"resize": c.resize} if getattr(c, "resize", "short_side") != "short_side" else {}),
        **({"multi_label": True, "threshold": effective_threshold(cfg, model)}
           if getattr(c, "multi_label", False) else {}),
    }
