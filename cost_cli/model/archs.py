"""Architecture ids and the table that maps each to its network family (no torch here:
listing models and checking a registry must start fast).

A *family* is one module under :mod:`cost_cli.model` that owns everything about its networks:
their ids and shapes (a frozen spec per id), the input pipeline each was trained with, the key
layout of its weights and the builder. The families:

========== ========================== ==============================================================
family     module                     networks
========== ========================== ==============================================================
cost       :mod:`.resnet3d_cost`      CoST(a)/(b) of the authors' release, its C2D baseline, tiny ones
c2d        :mod:`.c2d`                MMAction2's per-frame 2-D ResNets (4-D tensors): C2D-R50, TSN
resnet3d   :mod:`.resnet3d`           MMAction2's ResNet3d family: I3D-R50, SlowOnly-R50/R101
tsm        :mod:`.tsm`                MMAction2's TSM-R50: TSN's ResNet with a temporal shift per block
slowfast   :mod:`.slowfast`           MMAction2's SlowFast-R50/R101: two ResNet3d pathways, laterals
r3d        :mod:`.r3d`                MIT CSAIL's 3-D ResNet-50 of the Moments in Time models
========== ========================== ==============================================================

Every family module provides ``SPECS`` (id -> spec), ``default_pipeline(spec, frames)``,
``layout(spec, frames)`` (key -> (shape, dtype), the classifier sized for one class),
``min_clip_len(spec, frames)`` and ``build(spec, num_classes, frames)``; one whose clips must
also have a certain shape says so in ``clip_len_problem(spec, frames, clip_len)``. Adding a family is
adding such a module, its rows in :data:`ARCHS` and its registry entries.

This module is the one way in: :func:`get_arch`, :func:`default_pipeline`, :func:`min_clip_len`
and :func:`build_network` look the id up here and call its family (importing it, and so torch,
only then); :data:`ARCHITECTURES` answers ``in``, ``len`` and iteration from the table alone.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .blocks import Recognizer

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

# family -> its module under cost_cli.model
FAMILIES = {
    "cost": "resnet3d_cost",
    "c2d": "c2d",
    "resnet3d": "resnet3d",
    "tsm": "tsm",
    "slowfast": "slowfast",
    "r3d": "r3d",
}

# arch id -> (family, frame variants). The order is the order of `cost convert`'s ties: of two
# architectures whose weights have exactly the same keys and shapes, the first is taken (unless
# the other's published class count fits, see ArchSpec.published_classes).
# tests/test_model.py holds this table to the families' own SPECS.
ARCHS: dict[str, tuple[str, tuple[int, ...]]] = {
    "costa-r50": ("cost", (8, 32)),
    "costb-r50": ("cost", (8, 32)),
    "costa-r101": ("cost", (8, 32)),
    "costb-r101": ("cost", (8, 32)),
    "costa-r50-c2dstem": ("cost", (8,)),
    "costb-r50-c2dstem": ("cost", (8,)),
    "costa-r50-tsn": ("cost", (8,)),
    "c2d-r50-cost": ("cost", (8, 32)),
    "c2d-r50": ("c2d", (8,)),
    "tsn-r50": ("c2d", (8,)),
    "tsn-r101": ("c2d", (8,)),
    "tsm-r50": ("tsm", (8,)),
    "i3d-r50": ("resnet3d", (32,)),
    "slowonly-r50": ("resnet3d", (8,)),
    "slowonly-r101": ("resnet3d", (8,)),
    "slowfast-r50": ("slowfast", (32,)),
    "slowfast-r101": ("slowfast", (32,)),
    "r3d-r50": ("r3d", (16,)),
    "costa-tiny": ("cost", (8, 32)),
    "costb-tiny": ("cost", (8, 32)),
    "c2d-tiny": ("cost", (8, 32)),
}

FRAME_VARIANTS = tuple(sorted({f for _, variants in ARCHS.values() for f in variants}))

# An id that named another network before: a model folder written then still loads as that one.
# ``c2d-r50`` was the CoST release's C2D (5-D tensors); since the MMAction2 1.x model zoo it is
# the 2-D per-frame C2D (4-D tensors). The tensor rank of the stem tells them apart.
LEGACY_IDS = {"c2d-r50": ("c2d-r50-cost", 5)}


@dataclass(frozen=True)
class ArchSpec:
    """What every network shape has; each family's spec adds its own fields.

    ``kind`` is the CoST kind of its CoST layers ('a', 'b'), None for a network without any.
    ``frame_variants`` are the clip lengths its stem is made for (8: no temporal stride, 32:
    the 32-frame stems; other families have one each). ``published_classes``: class counts of
    the publisher's checkpoints of this network, which decide between two ids whose weights
    have the same keys and shapes.
    """

    name: str
    family: str
    description: str
    blocks: tuple[int, ...]
    base_width: int = 64
    frame_variants: tuple[int, ...] = (8,)
    kind: str | None = None
    published_classes: tuple[int, ...] = ()

    @property
    def depth(self) -> int | str:
        return {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101}.get(self.blocks, "custom")

    def variant_text(self, frames: int) -> str:
        """`` (8-frame)`` where an id has several variants, else nothing (for messages)."""
        return f" ({frames}-frame)" if len(self.frame_variants) > 1 else ""


@dataclass(frozen=True)
class Stem:
    """A ResNet stem: conv1 (kernel_t, 7, 7) and the max-pool after it."""

    kernel_t: int
    stride_t: int
    pool_kernel_t: int
    pool_stride_t: int
    pool_padding: int  # spatial padding of the (.., 3, 3) max-pool


def frames_out(stem: Stem, temporal_pool: bool, t: int) -> int:
    """Frames left after the stem and (``temporal_pool``) the (2, 1, 1) pool after layer1."""
    pad = (stem.kernel_t - 1) // 2  # conv1 pads time by half its kernel; the pools do not
    t = (t + 2 * pad - stem.kernel_t) // stem.stride_t + 1
    t = (t - stem.pool_kernel_t) // stem.pool_stride_t + 1
    return (t - 2) // 2 + 1 if temporal_pool and t >= 1 else t


def least_frames(frames_after: Callable[[int], int]) -> int:
    """The fewest input frames for which ``frames_after(t)`` leaves at least one."""
    t = 1
    while frames_after(t) < 1:
        t += 1
    return t


class _Architectures(Mapping):
    """Arch id -> spec. ``in``, ``len`` and iteration read :data:`ARCHS` only; looking a spec
    up imports its family's module (and torch)."""

    def __getitem__(self, name: str) -> ArchSpec:
        if name not in ARCHS:
            raise KeyError(name)
        return family(name).SPECS[name]

    def __iter__(self) -> Iterator[str]:
        return iter(ARCHS)

    def __len__(self) -> int:
        return len(ARCHS)

    def __contains__(self, name: object) -> bool:
        return name in ARCHS


ARCHITECTURES: Mapping[str, ArchSpec] = _Architectures()


def family(arch: str) -> ModuleType:
    """The family module of an architecture id (imported on first use)."""
    return importlib.import_module(f"{__package__}.{FAMILIES[_known(arch)[0]]}")


def _known(arch: str) -> tuple[str, tuple[int, ...]]:
    try:
        return ARCHS[arch]
    except (KeyError, TypeError):
        raise KeyError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}") from None


def family_name(arch: str) -> str:
    """The family of an id (``cost``, ``c2d`` ...), from the table alone."""
    return _known(arch)[0]


def frame_variants(arch: str) -> tuple[int, ...]:
    """The frame variants of an id, from the table alone."""
    return _known(arch)[1]


def get_arch(name: str) -> ArchSpec:
    """Look up an architecture id (``costb-r50`` ...); raises KeyError with the known ids."""
    _known(name)
    return family(name).SPECS[name]


def _variant(arch: str, frames: int | None) -> int:
    variants = frame_variants(arch)
    frames = variants[0] if frames is None else frames
    if frames not in variants:
        raise ValueError(f"{arch} has no {frames}-frame variant (frames: {', '.join(map(str, variants))})")
    return frames


def default_pipeline(arch: str, frames: int | None = None) -> dict:
    """The one-clip evaluation pipeline a network was trained for, as its family says.

    Returns ``clip_len``, ``frame_interval``, ``short_side``, ``crop_size``, ``mean`` and ``std``
    (RGB, 0-255). ``frames`` picks the frame variant (None: the first). Raises KeyError for an
    unknown id and ValueError for a variant the architecture lacks.
    """
    frames = _variant(arch, frames)
    return family(arch).default_pipeline(get_arch(arch), frames)


def min_clip_len(arch: str, frames: int) -> int:
    """The fewest frames a clip of ``arch`` (``frames`` variant) may hold: fewer and a temporal
    pool or stride would have no frame left."""
    frames = _variant(arch, frames)
    return family(arch).min_clip_len(get_arch(arch), frames)


def clip_len_problem(arch: str, frames: int, clip_len: int) -> str | None:
    """What keeps a clip of ``clip_len`` frames from fitting ``arch`` beyond :func:`min_clip_len`
    (SlowFast: a multiple of its slow step), as "must be ..." words; None when it fits."""
    frames = _variant(arch, frames)
    check = getattr(family(arch), "clip_len_problem", None)
    return check(get_arch(arch), frames, clip_len) if check is not None else None


def build_network(arch: str | ArchSpec, num_classes: int, frames: int | None = None) -> Recognizer:
    """An untrained network of any architecture id (its family builds it)."""
    name = arch if isinstance(arch, str) else arch.name
    frames = _variant(name, frames)
    return family(name).build(get_arch(name), num_classes, frames)


def current_arch_id(arch: str, stem_rank: int | None) -> str:
    """The id a stored model's network has today, given the config's id and the rank of its
    stem weight (``backbone.conv1.conv.weight``): ``c2d-r50`` with a 5-D stem is ``c2d-r50-cost``."""
    legacy = LEGACY_IDS.get(arch)
    if legacy is not None and stem_rank == legacy[1]:
        return legacy[0]
    return arch


def upgrade_config(raw: dict, stem_rank: int | None) -> dict:
    """A model folder's ``config.json`` (parsed) with a legacy architecture id replaced by the
    id its weights have today (see :data:`LEGACY_IDS`), given the rank of their stem weight
    (``backbone.conv1.conv.weight``, None when absent); other configs come back unchanged."""
    arch = raw.get("arch") if isinstance(raw, dict) else None
    if isinstance(arch, str) and arch in LEGACY_IDS:
        current = current_arch_id(arch, stem_rank)
        if current != arch:
            return {**raw, "arch": current}
    return raw
