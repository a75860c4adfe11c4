"""MMAction2 checkpoints (CoST release and 1.x model zoo): safe reading, layout inference,
strict key checks, and conversion into a model folder.

The library entry points are :func:`prepare_conversion` (a checkpoint -> a loaded network, its
config and labels) and :func:`convert_checkpoint` (the same, written as a model folder);
``cost convert``, ``--model FILE.pth`` and ``cost download`` go through them.
"""

from __future__ import annotations

import os
import pickle
import sys
import warnings
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import CheckpointError, ConfigError, UsageError
from .archs import ARCHITECTURES, FRAME_VARIANTS, build_network, default_pipeline
from .blocks import Recognizer
from .folder import LIMITS, ModelConfig, is_model_folder, sha256_file, write_model_folder
from .layouts import _mismatches, check_layout, expected_layout, infer_layout, publisher_names

# entries of a checkpoint's state dict that are not weights of the network
_NOT_WEIGHTS = ("data_preprocessor.",)


def read_checkpoint(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a ``.pth`` safely and return its tensors, ``state_dict`` unwrapped, ``module.`` stripped.

    Non-tensor entries and MMAction2 1.x's ``data_preprocessor.*`` buffers are dropped;
    torchvision-style names (MIT CSAIL's files, MMAction2's of 2020) are read as MMAction2's
    (:func:`~.layouts.publisher_names`).

    Pickled code is never executed: ``torch.load(weights_only=True)`` refuses it, and so do we.
    """
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such file")
    if not p.is_file():
        raise CheckpointError(f"{p}: not a regular file")
    try:
        with warnings.catch_warnings():
            # torch warns of "pickle protocol N" on bytes that are no pickle at all; the error says it
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if not _needs_code(str(exc)):
            raise CheckpointError(f"{p}: not a PyTorch checkpoint ({_unpickling_reason(str(exc))})") from None
        detail = _unpickling_detail(str(exc))
        raise CheckpointError(f"{p}: refused, the checkpoint needs pickled code to load ({detail})",
                              hint="only plain tensors and containers are loaded; re-save it with "
                                   "torch.save(model.state_dict()) in a trusted environment") from None
    except Exception as exc:  # noqa: BLE001 - bytes that are no checkpoint fail in any way the unpickler
        # finds (IndexError, KeyError, struct.error, ... on random bytes): all are "not a checkpoint"
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        plain = isinstance(exc, (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError, UnicodeDecodeError))
        reason = text if plain and text else f"{type(exc).__name__}: {text}".rstrip(": ")
        raise CheckpointError(f"{p}: not a PyTorch checkpoint ({reason[:160]})") from None
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    elif isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]
    if not isinstance(obj, dict):
        raise CheckpointError(f"{p}: not a checkpoint (holds a {type(obj).__name__}, not a state dict)")
    state: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor) or not isinstance(key, str):
            continue  # non-tensor entries (meta, step counters) are not weights
        if key.startswith("module."):
            key = key[len("module."):]
        if key.startswith(_NOT_WEIGHTS):
            continue
        state[key] = value
    if not state:
        raise CheckpointError(f"{p}: holds no tensors")
    return publisher_names(state)[0]


def _needs_code(msg: str) -> bool:
    """Did the weights-only unpickler refuse a reference to code (a class or function), rather
    than bytes that are no valid pickle ("Unsupported operand", a broken stack)?"""
    low = msg.lower()
    return any(s in low for s in ("global ", "unrecognized function", "unsupported class",
                                  "trying to call reduce", "trying to instantiate"))


def _unpickling_reason(msg: str) -> str:
    """One short line saying why bytes did not unpickle: what follows "WeightsUnpickler error:"
    in torch's long message, else the message's first line."""
    lines = [line.strip() for line in msg.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error:" in line:
            detail = line.split("WeightsUnpickler error:", 1)[1].strip() or (lines[i + 1] if i + 1 < len(lines) else "")
            if detail:
                return detail[:160]
    return lines[0][:160] if lines else "unpickling failed"


def _unpickling_detail(msg: str) -> str:
    """The line of torch's long refusal that names what was refused."""
    lines = [line.strip() for line in msg.splitlines() if line.strip()]
    for line in lines:
        if "Unsupported global" in line:
            return line.split("Unsupported global:", 1)[-1].strip()[:160] or line[:160]
    for line in lines:
        if "global " in line.lower() and not line.startswith("Weights only load failed"):
            return line[:160]
    return lines[0][:160] if lines else "unpickling refused"


def model_from_state(state: dict[str, torch.Tensor], source: str, arch: str | None = None,
                     frames: int | None = None, num_classes: int | None = None) -> Recognizer:
    """Build the network a checkpoint describes (or ``arch``) and load it strictly."""
    inferred = infer_layout(state)
    arch = arch or inferred.arch
    if arch is None:
        raise CheckpointError(f"{source}: cannot tell the architecture ({inferred.reason or 'no backbone keys'})",
                              hint=f"pass --arch (one of {', '.join(ARCHITECTURES)})")
    if arch not in ARCHITECTURES:
        raise CheckpointError(f"unknown architecture {arch!r}", hint=f"known: {', '.join(ARCHITECTURES)}")
    spec = ARCHITECTURES[arch]
    if frames is None:
        frames = inferred.frames if arch == inferred.arch else _closest_variant(state, arch, num_classes)
    if frames not in spec.frame_variants:
        raise CheckpointError(f"{arch} has no {frames}-frame variant "
                              f"(frames: {', '.join(map(str, spec.frame_variants))})")
    num_classes = num_classes or inferred.num_classes
    if num_classes is None:
        raise CheckpointError(f"{source}: cannot tell the number of classes (no cls_head.fc_cls.weight)",
                              hint="pass --num-classes")
    # checked against the layout before the network is built: a --num-classes of a billion
    # would otherwise allocate its classifier first
    check_layout(expected_layout(arch, frames, num_classes), state, source, arch + spec.variant_text(frames))
    model = build_network(arch, num_classes, frames=frames)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _closest_variant(state: dict[str, torch.Tensor], arch: str, num_classes: int | None) -> int:
    """The frame variant of ``arch`` whose layout the checkpoint fits best (its stem, for CoST)."""
    variants = ARCHITECTURES[arch].frame_variants
    n = num_classes or 1

    def misfit(frames: int) -> int:
        return sum(map(len, _mismatches(expected_layout(arch, frames, n), state)))

    return min(variants, key=misfit)


# ---------------------------------------------------------------------------------------------
# conversion


@dataclass
class Converted:
    """A checkpoint ready to use or write: the network (eval mode, loaded strictly), its
    config (with the source network's own input pipeline) and its class names.

    ``exact`` is False for an approximate start carried into another architecture; ``note``
    says what was done."""

    model: Recognizer
    config: ModelConfig
    labels: list[str]
    exact: bool = True
    note: str = ""
    source_arch: str = ""
    provenance: dict = field(default_factory=dict)


def _resolve_labels(labels: str | os.PathLike | Sequence[str] | None) -> tuple[list[str] | None, str]:
    from ..labels import resolve_labels

    if labels is None:
        return None, "unknown"
    if isinstance(labels, (str, os.PathLike)):
        return resolve_labels(os.fspath(labels))
    items = [str(x) for x in labels]
    if not items:
        raise ConfigError("labels: the class list is empty")
    return items, "unknown"


def prepare_conversion(path: str | os.PathLike, *, arch: str | None = None, frames: int | None = None,
                       num_classes: int | None = None,
                       labels: str | os.PathLike | Sequence[str] | None = None, name: str | None = None,
                       provenance: dict | None = None,
                       warn: Callable[[str], None] | None = None) -> Converted:
    """Read an MMAction2 checkpoint, recognise its layout and load it strictly.

    ``arch`` None keeps the checkpoint's own architecture. A CoST id of the same depth carries
    the weights into that CoST network instead (:mod:`.transfer`): exact from C2D into
    CoST(a) (``costa-r50`` from MMAction2's C2D lands on ``costa-r50-c2dstem``, whose stem
    pool is the C2D's), an approximate start otherwise. ``labels``: None (classes named by
    index, with a hint through ``warn``), a shipped list (``'k400'``, ``'mit'``, ``'mmit'`` ...:
    ``cost_cli.labels.LABEL_SETS``, which also says whether the model is multi-label or may not
    be mirrored), a file or a list of names.
    The config carries the source network's input pipeline. Raises CheckpointError (exit 1)
    for a checkpoint that does not fit, ConfigError / UsageError for bad arguments.
    """
    from ..labels import DATASET_NAMES, SIZES

    warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))
    p = Path(path)
    if frames is not None and frames not in FRAME_VARIANTS:
        raise UsageError(f"--frames must be one of {', '.join(map(str, FRAME_VARIANTS))}, not {frames}")
    top = LIMITS["num_classes"]
    if num_classes is not None and not 1 <= num_classes <= top:
        raise UsageError(f"--num-classes must be from 1 to {top:,}, not {num_classes}")
    if arch is not None and arch not in ARCHITECTURES:
        raise UsageError(f"--arch {arch!r}: unknown architecture", hint=f"known: {', '.join(ARCHITECTURES)}")
    label_list, dataset = _resolve_labels(labels)
    state = read_checkpoint(p)
    inferred = infer_layout(state)
    n_found = num_classes or inferred.num_classes
    transfer = None
    if arch is not None and not _fits(arch, frames, n_found, state) and inferred.arch is not None:
        from .transfer import transfer_state, transfer_target

        if ARCHITECTURES[arch].kind and transfer_target(inferred.arch, inferred.frames, arch):
            if frames is not None and frames != inferred.frames:
                raise UsageError(f"--frames {frames}: carrying {inferred.arch} into {arch} keeps its "
                                 f"{inferred.frames}-frame stem")
            if n_found is None:
                raise CheckpointError(f"{p}: cannot tell the number of classes (no cls_head.fc_cls.weight)")
            check_layout(expected_layout(inferred.arch, inferred.frames, n_found), state, str(p),
                         inferred.arch + ARCHITECTURES[inferred.arch].variant_text(inferred.frames))
            transfer = transfer_state(state, inferred.arch, inferred.frames, arch, n_found)
    if transfer is not None:
        model = build_network(transfer.arch, n_found, frames=transfer.frames)
        model.load_state_dict(transfer.state, strict=True)
        model.eval()
        source_arch, source_frames = inferred.arch, inferred.frames
    else:
        model = model_from_state(state, str(p), arch=arch, frames=frames, num_classes=num_classes)
        source_arch, source_frames = model.arch.name, model.frames
    n = model.num_classes
    if arch is None:
        # the same keys and shapes, another structure, whose publisher's checkpoints exist
        others = [a for a in inferred.alternatives if ARCHITECTURES[a].published_classes]
        if others:
            warn(f"{p.name}: its keys and shapes are also those of {', '.join(others)} (another network); "
                 f"read as {model.arch.name}, pass --arch {others[0]} if it is that one")
    if label_list is None:
        label_list = [str(i) for i in range(n)]
        if n in SIZES:
            warn(f"{p.name}: classes are named by index; this looks like {n} {DATASET_NAMES[SIZES[n]]} "
                 f"classes: pass --labels {SIZES[n]}")
        else:
            warn(f"{p.name}: classes are named by index; pass --labels FILE to name them")
    elif len(label_list) != n:
        shown = labels if isinstance(labels, (str, os.PathLike)) else "(list)"
        raise ConfigError(f"--labels {shown}: {len(label_list)} labels but the checkpoint has {n} classes")
    prov = {"converted_from": p.name, "checkpoint_sha256": sha256_file(p),
            "inferred_arch": inferred.arch or "", "tool": "cost convert"}
    if transfer is not None:
        prov.update({"transferred_from": source_arch, "transfer": transfer.note,
                     "transfer_exact": transfer.exact})
    prov.update(provenance or {})
    config = ModelConfig(arch=model.arch.name, num_classes=n, frames=model.frames,
                         **default_pipeline(source_arch, source_frames), **_dataset_facts(labels),
                         dataset=dataset, name=name or p.stem, provenance=prov)
    model.config, model.labels = config, list(label_list)  # as load_model attaches them
    return Converted(model, config, label_list, exact=transfer.exact if transfer else True,
                     note=transfer.note if transfer else "", source_arch=source_arch, provenance=prov)


def _dataset_facts(labels: object) -> dict:
    """What a shipped class list says about a model's outputs and input: multi-label (sigmoid
    scores), or never mirrored (its classes tell left from right)."""
    from ..labels import LABEL_SETS

    found = LABEL_SETS.get(labels) if isinstance(labels, str) else None
    if found is None:
        return {}
    return {"multi_label": found.multi_label, "flip": found.flip}


def _fits(arch: str, frames: int | None, num_classes: int | None, state: dict[str, torch.Tensor]) -> bool:
    """Whether ``state`` is exactly ``arch``'s layout (any of its frame variants when None)."""
    spec = ARCHITECTURES[arch]
    for f in ([frames] if frames in spec.frame_variants else spec.frame_variants if frames is None else []):
        if not any(_mismatches(expected_layout(arch, f, num_classes or 1), state)):
            return True
    return False


def convert_checkpoint(path: str | os.PathLike, out: str | os.PathLike, *, arch: str | None = None,
                       frames: int | None = None, num_classes: int | None = None,
                       labels: str | os.PathLike | Sequence[str] | None = None, name: str | None = None,
                       provenance: dict | None = None, warn: Callable[[str], None] | None = None,
                       overwrite: bool = False) -> Path:
    """:func:`prepare_conversion`, then write the model folder ``out``; returns its path.

    Nothing is written when the checkpoint does not fit (every missing, unexpected and
    mis-shaped key is listed) or holds degenerate weights. An existing non-empty ``out`` is
    refused (UsageError) unless ``overwrite``.
    """
    out = Path(out)
    if out.exists() and not overwrite and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists" + (" and holds a model" if is_model_folder(out) else ""),
                         hint="pass --force to replace it, or choose another --out")
    conv = prepare_conversion(path, arch=arch, frames=frames, num_classes=num_classes, labels=labels,
                              name=name or out.name, provenance=provenance, warn=warn)
    return write_model_folder(out, conv.config, conv.labels, conv.model.state_dict())
