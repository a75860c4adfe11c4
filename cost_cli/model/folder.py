"""The model folder format: ``config.json``, ``model.safetensors``, ``labels.txt``, ``README.md``.

Every part of the tool reads and writes models through this module.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
import struct
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .archs import ARCHITECTURES, LEGACY_IDS, clip_len_problem, frame_variants, min_clip_len, upgrade_config

if TYPE_CHECKING:
    import torch

    from .blocks import Recognizer

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
LABELS_NAME = "labels.txt"
CARD_NAME = "README.md"

# the dataset name `cost train --synthetic` writes (models trained on generated motion)
SYNTHETIC_DATASET = "cost-cli synthetic"

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

# What a model folder may claim. Its files come from anywhere (a Hub repo, a colleague's disk), so
# every size, depth and count is checked before anything is allocated from it. The bounds are far
# beyond any published network (8-64 frames, 224-448 px crops, 400-21k classes) and far below
# what would take the machine: 100,000 classes x 2,048 features is an 800 MB classifier, one
# 128-frame clip at 512 px is 400 MB of input.
MAX_CONFIG_BYTES = 1 << 20  # a config.json is a few kB, its provenance notes included
MAX_LABELS_BYTES = 16 << 20  # 100,000 names of 160 bytes
MAX_HEADER_BYTES = 16 << 20  # a ResNet-101's safetensors header is about 100 kB
MAX_JSON_DEPTH = 16  # config.json nests 3 deep (provenance -> stages -> a command)
MAX_TEXT = 500  # characters of `name` and `dataset`
LIMITS = {"num_classes": 100_000, "clip_len": 128, "frame_interval": 128, "short_side": 1024, "crop_size": 512}
SAMPLINGS = ("dense", "segments")
RESIZES = ("short_side", "squash")
OPTIONAL_DEFAULTS = {"sampling": "dense", "resize": "short_side", "flip": True, "multi_label": False, "threshold": None}
MEAN_RANGE = (0.0, 255.0)  # RGB, on the 0-255 scale of decoded pixels
STD_RANGE = (1.0, 255.0)  # a std below 1 is a 0-1 scale one (0.229 ...) or a division by almost nothing


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model and feed it: ``config.json`` of a model folder."""

    arch: str
    num_classes: int
    frames: int = 8  # frame variant: 8 (kt=1) or 32 (kt=5, temporal stride 2) for CoST stems
    clip_len: int = 8
    frame_interval: int = 8
    short_side: int = 256
    crop_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    dataset: str = "unknown"
    name: str = ""
    smooth: float = 0.0  # cost label's default --smooth for this model (0: each window's own top-1)
    provenance: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    # written only when not the default (a folder of the earlier networks reads as it did):
    sampling: str = "dense"  # "dense": every frame_interval-th frame; "segments": the middle of each of clip_len segments
    resize: str = "short_side"  # "short_side": short side, then a centre crop; "squash": the frame to crop x crop
    flip: bool = True  # False: a mirrored clip is another class (left and right): nothing may mirror the input
    multi_label: bool = False  # True: independent sigmoid scores per class (several classes at once)
    threshold: float | None = None  # multi-label: the score from which a class is present (None: 0.5)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        for key, default in OPTIONAL_DEFAULTS.items():
            if d[key] == default:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict, where: str = CONFIG_NAME) -> "ModelConfig":
        """The config a parsed ``config.json`` describes, every field checked (:meth:`validate`);
        ``where`` names the file in messages. Keys this version does not know are ignored."""
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: not a JSON object (holds {_json_kind(d)})")
        _check_format_version(d.get("format_version", FORMAT_VERSION), where)  # before what it may change
        for key in ("arch", "num_classes"):
            if key not in d:
                raise ConfigError(f"{where}: {key} is missing")
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in known}
        for key in ("mean", "std"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = tuple(kwargs[key])  # validate() checks what it holds
        cfg = cls(**kwargs)
        cfg.validate(where)
        return cfg

    def validate(self, where: str = CONFIG_NAME) -> None:
        """Refuse a config no network can be built or fed from: each field's type, then its range;
        one line naming ``where`` and the field."""

        def refuse(key: str, expected: str, value: object) -> ConfigError:
            return ConfigError(f"{where}: {key} must be {expected}, not {_shown(value)}")

        _check_format_version(self.format_version, where)
        if not isinstance(self.arch, str):
            raise refuse("arch", "an architecture id (a string)", self.arch)
        if self.arch not in ARCHITECTURES:
            raise ConfigError(f"{where}: arch {_shown(self.arch)} is an unknown architecture",
                              hint=f"known: {', '.join(ARCHITECTURES)}")
        variants = frame_variants(self.arch)
        if not _is_int(self.frames) or self.frames not in variants:
            raise refuse("frames", " or ".join(map(str, variants)) + f" for {self.arch}", self.frames)
        for key, top in LIMITS.items():
            value = getattr(self, key)
            if not _is_int(value) or not 1 <= value <= top:
                raise refuse(key, f"an integer from 1 to {top:,}", value)
        least = min_clip_len(self.arch, self.frames)
        if self.clip_len < least:
            raise refuse("clip_len", f"at least {least} for {self.arch} ({self.frames}-frame stem: its "
                         "temporal pools need that many frames)", self.clip_len)
        problem = clip_len_problem(self.arch, self.frames, self.clip_len)
        if problem:
            raise refuse("clip_len", problem, self.clip_len)
        for key, allowed in (("sampling", SAMPLINGS), ("resize", RESIZES)):
            if getattr(self, key) not in allowed:
                raise refuse(key, " or ".join(f'"{a}"' for a in allowed), getattr(self, key))
        for key in ("flip", "multi_label"):
            if not isinstance(getattr(self, key), bool):
                raise refuse(key, "true or false", getattr(self, key))
        if self.threshold is not None and not (_is_number(self.threshold) and 0 < self.threshold < 1):
            raise refuse("threshold", "a number between 0 and 1 (or null)", self.threshold)
        if self.crop_size > self.short_side:
            raise ConfigError(f"{where}: crop_size {self.crop_size} is larger than short_side {self.short_side}")
        for key, (low, high) in (("mean", MEAN_RANGE), ("std", STD_RANGE)):
            values = getattr(self, key)
            if not isinstance(values, (tuple, list)) or len(values) != 3 \
                    or not all(_is_number(v) and math.isfinite(v) for v in values):
                raise refuse(key, "three finite numbers (RGB)", values)
            if not all(low <= v <= high for v in values):
                raise refuse(key, f"three numbers from {low:g} to {high:g} (RGB, 0-255 scale)"
                             + (": a zero would divide every pixel by zero" if key == "std" and 0 in values else ""),
                             list(values))
        if not _is_number(self.smooth) or not math.isfinite(self.smooth) or self.smooth < 0:
            raise refuse("smooth", "a number of nats, 0 or more", self.smooth)
        for key in ("dataset", "name"):
            text = getattr(self, key)
            if not isinstance(text, str) or len(text) > MAX_TEXT or _CONTROL.search(text):
                raise refuse(key, f"a string of at most {MAX_TEXT} characters, no control characters", text)
        if not isinstance(self.provenance, dict):
            raise refuse("provenance", "a JSON object", self.provenance)

    @property
    def synthetic(self) -> bool:
        """Trained on generated data (``cost train --synthetic``): its classes are not human actions."""
        return self.dataset.startswith(SYNTHETIC_DATASET)

    @property
    def window_span(self) -> int:
        """Source frames covered by one window (clip_len x frame_interval)."""
        return self.clip_len * self.frame_interval

    def with_(self, **changes) -> "ModelConfig":
        return replace(self, **changes)


def _check_format_version(version: object, where: str) -> None:
    if not _is_int(version) or version < 1:
        raise ConfigError(f"{where}: format_version must be a positive integer, not {_shown(version)}")
    if version > FORMAT_VERSION:
        raise ConfigError(f"{where}: format_version {version} is newer than this tool understands "
                          f"({FORMAT_VERSION})", hint="upgrade cost-cli")


@dataclass
class LoadedModel:
    """What :func:`read_model_folder` returns before a module is built."""

    config: ModelConfig
    labels: list[str]
    state_dict: dict[str, torch.Tensor]
    weights_sha256: str


def weights_dir() -> Path:
    """Where the bundled model folders live: inside the installed package, or the repo's ``weights/``."""
    pkg = Path(__file__).resolve().parent.parent  # cost_cli/
    for candidate in (pkg / "weights", pkg.parent / "weights"):
        if (candidate / "registry.json").is_file():
            return candidate
    return pkg / "weights"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def split_labels(text: str) -> list[str]:
    """Class names of a label list: one per line, lines split on ``\\n`` only (a name may hold
    U+0085, U+2028 and friends), ASCII spaces, tabs and a CR trimmed, blank trailing lines
    ignored."""
    labels = [line.strip(" \t\r\f\v") for line in text.split("\n")]
    while labels and not labels[-1]:
        labels.pop()
    return labels


def read_labels(path: str | os.PathLike) -> list[str]:
    """One class name per line (:func:`split_labels`) of a UTF-8 file of at most
    :data:`MAX_LABELS_BYTES`; raises ConfigError naming the file otherwise."""
    return split_labels(_decode(_read_capped(path, MAX_LABELS_BYTES), str(path)))


def is_model_folder(path: str | os.PathLike) -> bool:
    p = Path(path)
    return p.is_dir() and (p / CONFIG_NAME).is_file() and (p / WEIGHTS_NAME).is_file()


# ------------------------------------------------------------------------------ reading, checked

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# nesting depth of JSON text, in three linear passes (no backtracking): drop escaped characters,
# then strings, then all but brackets
_ESCAPED = re.compile(r"\\.", re.DOTALL)
_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# safetensors dtypes -> bytes per element
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
                "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _json_kind(v: object) -> str:
    """What a JSON value is, in JSON's words."""
    if v is None:
        return "null"
    for kind, name in ((bool, "a boolean"), (str, "a string"), ((int, float), "a number"),
                       ((list, tuple), "an array"), (dict, "an object")):
        if isinstance(v, kind):
            return name
    return type(v).__name__


def _shown(v: object, width: int = 60) -> str:
    """A value as a message shows it: JSON's spelling, cut to ``width`` characters."""
    try:
        text = json.dumps(v, ensure_ascii=True, allow_nan=True)
    except (TypeError, ValueError):
        text = repr(v)
    return text if len(text) <= width else f"{text[:width - 5]}... ({_json_kind(v)})"


def _read_capped(path: str | os.PathLike, limit: int) -> bytes:
    """A regular file's bytes, refused past ``limit`` without reading further."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: not a regular file")
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"{p}: unreadable ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise ConfigError(f"{p}: larger than {limit:,} bytes, far more than such a file holds (not read)")
    return data


def _decode(data: bytes, where: str) -> str:
    """UTF-8 text (a byte-order mark allowed), or a ConfigError saying where it is not."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{where}: not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line})") from None


def json_depth(text: str) -> int:
    """How deep JSON text nests (``{}`` is 1), counted without parsing it: exact for valid JSON
    and for the valid part of invalid JSON, which is as far as a parser gets."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", _ESCAPED.sub("", text)))
    return max(itertools.accumulate(_STEP[c] for c in brackets), default=0)


def parse_json(data: bytes, where: str, max_depth: int = MAX_JSON_DEPTH) -> object:
    """JSON from outside, parsed only when it is UTF-8, nests at most ``max_depth`` deep and names
    no key twice in one object; every failure is a one-line ConfigError naming ``where``."""
    text = _decode(data, where)
    if json_depth(text) > max_depth:
        raise ConfigError(f"{where}: JSON nested more than {max_depth} levels deep")

    def pairs(items: list[tuple[str, object]]) -> dict:
        out: dict = {}
        for key, value in items:
            if key in out:
                raise _DuplicateKey(key)
            out[key] = value
        return out

    def integer(digits: str) -> int:
        if len(digits) > 40:  # Python refuses 4,300 digits with advice for programmers; say it plainly
            raise ValueError(f"an integer of {len(digits):,} digits")
        return int(digits)

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_int=integer)
    except _DuplicateKey as exc:
        raise ConfigError(f"{where}: key {_shown(exc.args[0])} appears twice in one object") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, a huge integer
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{where}: not valid JSON ({reason[:120]})") from None


class _DuplicateKey(Exception):
    pass


def _config_json(folder: Path) -> tuple[dict, str]:
    where = folder / CONFIG_NAME
    raw = parse_json(_read_capped(where, MAX_CONFIG_BYTES), str(where))
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: not a JSON object (holds {_json_kind(raw)})")
    return raw, str(where)


def read_config(path: str | os.PathLike, stem_rank: int | None = None) -> ModelConfig:
    """The checked :class:`ModelConfig` of a model folder's ``config.json`` (``path`` is the folder).

    ``stem_rank``, the rank of the weights' stem tensor, lets a legacy id load as the network its
    weights are (:func:`~cost_cli.model.archs.upgrade_config`). Raises ConfigError naming the
    file and the field."""
    raw, where = _config_json(Path(path))
    return ModelConfig.from_dict(upgrade_config(raw, stem_rank), where)


def read_weights_header(path: str | os.PathLike) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Tensor name -> (dtype, shape) of a ``model.safetensors``, from its JSON header alone (no
    tensor data read, nothing allocated from the shapes); each tensor's byte range is checked
    against its dtype, its shape and the file's size, so the shapes can be trusted."""
    where = str(path)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            prefix = f.read(8)
            n = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else None
            if n is None or n > MAX_HEADER_BYTES or 8 + n > size:
                raise ConfigError(f"{where}: unreadable weights (not a safetensors file: "
                                  + ("shorter than 8 bytes)" if n is None else f"a header of {n:,} bytes "
                                     f"in a file of {size:,})"))
            data = f.read(n)
    except OSError as exc:
        raise ConfigError(f"{where}: unreadable weights ({exc.strerror or exc})") from None
    header = parse_json(data, f"{where} (safetensors header)", max_depth=3)
    if not isinstance(header, dict):
        raise ConfigError(f"{where}: unreadable weights (the safetensors header is not a JSON object)")
    room = size - 8 - n
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        bad = f"{where}: unreadable weights (tensor {_shown(key)}: "
        if not isinstance(entry, dict):
            raise ConfigError(bad + f"an entry of {_json_kind(entry)})")
        dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if dtype not in _DTYPE_BYTES:
            raise ConfigError(bad + f"dtype {_shown(dtype)} is none this tool reads)")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise ConfigError(bad + f"shape {_shown(shape)} is no list of sizes)")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= room):
            raise ConfigError(bad + f"data_offsets {_shown(offsets)} lie outside the file's {room:,} bytes of data)")
        if offsets[1] - offsets[0] != math.prod(shape) * _DTYPE_BYTES[dtype]:
            raise ConfigError(bad + f"shape {shape} of {dtype} does not fill its {offsets[1] - offsets[0]:,} bytes)")
        out[key] = (dtype, tuple(shape))
    return out


@dataclass
class FolderFacts:
    """What :func:`check_model_folder` found: everything but the tensors' values."""

    config: ModelConfig
    labels: list[str]
    header: dict[str, tuple[str, tuple[int, ...]]]


def check_model_folder(path: str | os.PathLike) -> FolderFacts:
    """Check a model folder without loading its weights: ``config.json`` (size, nesting, every
    field), the weights' safetensors header against the config (class count first, then every
    key and shape of the architecture), ``labels.txt`` (UTF-8, size, one name per class).

    Nothing is allocated from what the files claim before it has been checked against the
    others. Raises ConfigError naming the file (and the field) on the first problem."""
    p = Path(path)
    if not p.is_dir():
        raise ConfigError(f"{p}: not a model folder (no such directory)")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (p / name).is_file():
            raise ConfigError(f"{p}: not a model folder (missing {name})")
    weights = p / WEIGHTS_NAME
    raw, where = _config_json(p)
    # config.json's own faults are named before the weights are opened, unless a legacy id needs
    # the rank of the weights' stem to say which network it is
    legacy = isinstance(raw.get("arch"), str) and raw["arch"] in LEGACY_IDS
    header = read_weights_header(weights) if legacy else None
    stem = header.get("backbone.conv1.conv.weight") if header else None
    config = ModelConfig.from_dict(upgrade_config(raw, len(stem[1]) if stem else None), where)
    if header is None:
        header = read_weights_header(weights)
    _check_header(header, config, p)
    labels_path = p / LABELS_NAME
    if labels_path.exists() or labels_path.is_symlink():
        labels = read_labels(labels_path)
        if len(labels) != config.num_classes:
            raise ConfigError(f"{labels_path}: {len(labels)} labels but the model has {config.num_classes} classes")
    else:
        labels = [str(i) for i in range(config.num_classes)]
    return FolderFacts(config, labels, header)


def _check_header(header: dict[str, tuple[str, tuple[int, ...]]], config: ModelConfig, folder: Path) -> None:
    """The weights' keys and shapes against the network ``config`` describes: its class count
    first (the one number a config states about the weights), then every key and shape."""
    from .layouts import expected_layout

    head = header.get("cls_head.fc_cls.weight")
    if head is not None and len(head[1]) == 2 and head[1][0] != config.num_classes:
        raise ConfigError(f"{folder / CONFIG_NAME}: num_classes is {config.num_classes:,} but the classifier "
                          f"in {WEIGHTS_NAME} (cls_head.fc_cls.weight {list(head[1])}) has {head[1][0]:,} classes")
    layout = expected_layout(config.arch, config.frames, config.num_classes)
    missing = [k for k in layout if k not in header]
    unexpected = [k for k in header if k not in layout]
    misshaped = [f"{k} {header[k][1]} != {shape}" for k, (shape, _) in layout.items()
                 if k in header and header[k][1] != shape]
    if missing or unexpected or misshaped:
        parts = []
        for name, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)):
            if items:
                shown = ", ".join(_shown(k, 80).strip('"') for k in items[:6])
                parts.append(f"{len(items)} {name}: {shown}" + (f" (+{len(items) - 6} more)" if len(items) > 6 else ""))
        variant = f" ({config.frames}-frame)" if len(frame_variants(config.arch)) > 1 else ""
        raise ConfigError(f"{folder / WEIGHTS_NAME}: does not match {config.arch}{variant} "
                          f"that {CONFIG_NAME} names: " + "; ".join(parts))


def read_model_folder(path: str | os.PathLike) -> LoadedModel:
    """Read and check a model folder (:func:`check_model_folder`), then load its weights and
    refuse degenerate values (:func:`check_weights`); raises ConfigError with the reason."""
    from safetensors.torch import load_file

    facts = check_model_folder(path)
    weights = Path(path) / WEIGHTS_NAME
    try:
        state = load_file(str(weights))
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{weights}: unreadable weights ({reason[:160]})") from None
    check_weights(state, str(weights))
    return LoadedModel(facts.config, facts.labels, state, sha256_file(weights))


def check_weights(state: dict[str, torch.Tensor], where: str) -> None:
    """Refuse weights no network can use: integer or boolean tensors where a network has
    floating ones (only BN's ``num_batches_tracked`` counter is an integer), NaN or infinity."""
    import torch

    for key, t in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        if not t.is_floating_point():
            raise ConfigError(f"{where}: {key} holds {str(t.dtype).replace('torch.', '')} values, "
                              "not floating-point weights: an unusable model")
        if t.numel() and not bool(torch.isfinite(t).all()):
            raise ConfigError(f"{where}: {key} holds NaN or infinite values: an unusable model")


def build_model(config: ModelConfig) -> Recognizer:
    """An untrained network of the config's architecture (its family builds it)."""
    from .archs import build_network

    return build_network(config.arch, config.num_classes, frames=config.frames)


def write_model_folder(out_dir: str | os.PathLike, config: ModelConfig, labels: list[str],
                       state_dict: dict[str, torch.Tensor], card: str | None = None) -> Path:
    """Write a model folder atomically enough: files go to a temp dir that is renamed in place."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    if len(labels) != config.num_classes:
        raise ConfigError(f"{len(labels)} labels for a model with {config.num_classes} classes")
    config.validate()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
    (tmp / CONFIG_NAME).write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    (tmp / LABELS_NAME).write_text("\n".join(labels) + "\n", encoding="utf-8")
    (tmp / CARD_NAME).write_text(card or default_card(config, labels), encoding="utf-8")
    out.mkdir(parents=True, exist_ok=True)
    for f in tmp.iterdir():
        os.replace(f, out / f.name)
    tmp.rmdir()
    return out


def describe_input(config: ModelConfig) -> str:
    """How a window is read, in words: its frames, then how each is resized."""
    if config.sampling == "segments":
        frames = (f"{config.clip_len} segments of {config.frame_interval} frames, the middle frame of each "
                  f"(windows of {config.window_span} frames)")
    else:
        frames = f"{config.clip_len} frames every {config.frame_interval}"
    if config.resize == "squash":
        return f"{frames}, each squashed to {config.crop_size} x {config.crop_size} (no crop)"
    return f"{frames}, short side {config.short_side}, centre crop {config.crop_size}"


def default_card(config: ModelConfig, labels: list[str]) -> str:
    """A short model card."""
    prov = config.provenance or {}
    lines = [
        f"# {config.name or config.arch}",
        "",
        f"CoST model in the cost-cli model folder format (version {config.format_version}).",
        "",
        f"- architecture: `{config.arch}`, {config.frames}-frame stem",
        f"- classes: {config.num_classes} ({config.dataset})",
        f"- input: {describe_input(config)}, mean {list(config.mean)}, std {list(config.std)}",
    ]
    if config.multi_label:
        lines.append(f"- multi-label: independent sigmoid scores, a class present from "
                     f"{config.threshold if config.threshold is not None else 0.5}")
    if not config.flip:
        lines.append("- never mirrored: its classes tell left from right")
    for k, v in prov.items():
        lines.append(f"- {k}: {v}")
    lines += ["", "Labels: `labels.txt` (one per line, index order). First classes: "
              + ", ".join(labels[:5]) + ("..." if len(labels) > 5 else ""), ""]
    return "\n".join(lines)
