"""The named network shapes and their input pipelines (no torch here: listing models must start fast).

Two families share one builder (:mod:`cost_cli.model.resnet3d_cost`) and one key layout
(``backbone.layerX.Y.convN.conv.weight`` ...):

* the CoST networks of the authors' release (``costa-*``, ``costb-*``) and its C2D baseline
  (``c2d-r50-cost``, ``c2d-tiny``): 8- or 32-frame stem, temporal pool after layer1;
* MMAction2 1.x Kinetics-400 networks of the ResNet3d family: ``c2d-r50`` (a 2-D ResNet run
  frame by frame, 4-D tensors), ``i3d-r50`` (32x2) and ``slowonly-r50`` / ``slowonly-r101``
  (8x8), whose stems, pools and inflated blocks follow MMAction2's configs.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

# stem variant -> (clip_len, frame_interval) of the one-clip evaluation pipeline
CLIP_SAMPLING = {8: (8, 8), 32: (32, 2)}


@dataclass(frozen=True)
class Stem:
    """The stem of one frame variant: conv1 (kernel_t, 7, 7) and the max-pool after it."""

    kernel_t: int
    stride_t: int
    pool_kernel_t: int
    pool_stride_t: int
    pool_padding: int  # spatial padding of the (.., 3, 3) max-pool


@dataclass(frozen=True)
class ArchSpec:
    """A named network shape.

    ``inflate`` flags one entry per block. What an inflated block is depends on
    ``inflate_style``: ``"cost"`` makes its conv2 a CoST operation of ``kind``; ``"3x1x1"``
    (I3D, SlowOnly) makes its conv1 a (3, 1, 1) convolution. ``conv_rank`` 4 means a 2-D ResNet
    run frame by frame (4-D weight tensors, MMAction2's C2D).
    """

    name: str
    kind: str | None  # 'a', 'b', or None (no CoST layers)
    blocks: tuple[int, ...]
    inflate: tuple[tuple[int, ...], ...]
    base_width: int = 64
    description: str = ""
    inflate_style: str = "cost"  # 'cost' or '3x1x1'
    conv_rank: int = 5  # 5: Conv3d everywhere; 4: Conv2d per frame (C2D of MMAction2 1.x)
    frame_variants: tuple[int, ...] = (8, 32)
    stem_pool_padding: int = 1
    stem_pool_kernel_t: int | None = None  # None: 2 when the pool strides over time, else 1
    temporal_pool: bool = True  # max-pool (2, 1, 1) after layer1
    short_side: int = 256
    crop_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    family: str = "cost"  # 'cost' (CoST release) or 'mmaction2' (MMAction2 1.x model zoo)

    @property
    def depth(self) -> int | str:
        return {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101}.get(self.blocks, "custom")

    def stem(self, frames: int) -> Stem:
        """The stem of a frame variant (8: kt=1, no temporal stride; 32: kt=5, stride 2)."""
        if frames not in self.frame_variants:
            raise ValueError(f"{self.name} has no {frames}-frame variant "
                             f"(frames: {', '.join(map(str, self.frame_variants))})")
        kt, st, pool_st = (1, 1, 1) if frames == 8 else (5, 2, 2)
        pool_kt = self.stem_pool_kernel_t or (1 if pool_st == 1 else 2)
        return Stem(kt, st, pool_kt, pool_st, self.stem_pool_padding)


def _alternate(n: int, first: int) -> tuple[int, ...]:
    return tuple((i + first + 1) % 2 for i in range(n))


def _none(blocks: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    return tuple((0,) * n for n in blocks)


R50 = (3, 4, 6, 3)
R101 = (3, 4, 23, 3)
_R50_INFLATE = ((0, 1, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (1, 0, 1))
_R101_INFLATE = ((0, 1, 0), (1, 0, 1, 0), _alternate(23, 0), (0, 1, 0))
_TINY_BLOCKS = (1, 1, 1, 1)
_TINY_INFLATE = ((1,), (1,), (1,), (1,))
# MMAction2 configs: i3d_r50.py `inflate`, ResNet3dSlowOnly's default inflate=(0, 0, 1, 1)
_I3D_INFLATE = ((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0))


def _slowonly_inflate(blocks: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    return tuple((1 if stage >= 2 else 0,) * n for stage, n in enumerate(blocks))


_MM = dict(family="mmaction2")

ARCHITECTURES: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in [
        ArchSpec("costa-r50", "a", R50, _R50_INFLATE, 64, "CoST(a), ResNet-50"),
        ArchSpec("costb-r50", "b", R50, _R50_INFLATE, 64, "CoST(b), ResNet-50"),
        ArchSpec("costa-r101", "a", R101, _R101_INFLATE, 64, "CoST(a), ResNet-101"),
        ArchSpec("costb-r101", "b", R101, _R101_INFLATE, 64, "CoST(b), ResNet-101"),
        ArchSpec("costa-r50-c2dstem", "a", R50, _R50_INFLATE, 64,
                 "CoST(a), ResNet-50, C2D stem (stem max-pool padding 0): carries MMAction2's C2D-R50",
                 frame_variants=(8,), stem_pool_padding=0),
        ArchSpec("costb-r50-c2dstem", "b", R50, _R50_INFLATE, 64,
                 "CoST(b), ResNet-50, C2D stem (stem max-pool padding 0): carries MMAction2's C2D-R50",
                 frame_variants=(8,), stem_pool_padding=0),
        ArchSpec("c2d-r50-cost", None, R50, _none(R50), 64,
                 "C2D baseline of the CoST release, ResNet-50 (5-D tensors, stem pool padding 1)"),
        ArchSpec("c2d-r50", None, R50, _none(R50), 64,
                 "C2D-R50, MMAction2 1.x (a 2-D ResNet-50 per frame, 4-D tensors), 8x8",
                 conv_rank=4, frame_variants=(8,), stem_pool_padding=0, **_MM),
        ArchSpec("i3d-r50", None, R50, _I3D_INFLATE, 64,
                 "I3D-R50, MMAction2 1.x (3x1x1 inflated blocks), 32x2",
                 inflate_style="3x1x1", frame_variants=(32,), stem_pool_kernel_t=1, **_MM),
        ArchSpec("slowonly-r50", None, R50, _slowonly_inflate(R50), 64,
                 "SlowOnly-R50, MMAction2 1.x (3x1x1 blocks in layer3-4), 8x8",
                 inflate_style="3x1x1", frame_variants=(8,), temporal_pool=False, **_MM),
        ArchSpec("slowonly-r101", None, R101, _slowonly_inflate(R101), 64,
                 "SlowOnly-R101, MMAction2 1.x (3x1x1 blocks in layer3-4), 8x8",
                 inflate_style="3x1x1", frame_variants=(8,), temporal_pool=False, **_MM),
        ArchSpec("costa-tiny", "a", _TINY_BLOCKS, _TINY_INFLATE, 16,
                 "CoST(a), 1 block per stage, width 16 (tests, CPU)"),
        ArchSpec("costb-tiny", "b", _TINY_BLOCKS, _TINY_INFLATE, 16,
                 "CoST(b), 1 block per stage, width 16 (tests, CPU, bundled model)"),
        ArchSpec("c2d-tiny", None, _TINY_BLOCKS, ((0,), (0,), (0,), (0,)), 16,
                 "C2D baseline, 1 block per stage, width 16"),
    ]
}

FRAME_VARIANTS = (8, 32)

# An id that named another network before: a model folder written then still loads as that one.
# ``c2d-r50`` was the CoST release's C2D (5-D tensors); since the MMAction2 1.x model zoo it is
# the 2-D per-frame C2D (4-D tensors). The tensor rank of the stem tells them apart.
LEGACY_IDS = {"c2d-r50": ("c2d-r50-cost", 5)}


def get_arch(name: str) -> ArchSpec:
    """Look up an architecture id (``costb-r50`` ...); raises KeyError with the known ids."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}") from None


def default_pipeline(arch: str, frames: int | None = None) -> dict:
    """The one-clip evaluation pipeline a network was trained for.

    Returns ``clip_len``, ``frame_interval``, ``short_side``, ``crop_size``, ``mean`` and ``std``
    (RGB, 0-255). ``frames`` picks the stem variant (8: 8 frames every 8; 32: 32 every 2); None
    means the architecture's first variant. Raises KeyError for an unknown id and ValueError for
    a variant the architecture lacks.

    All networks here use MMAction2's one-clip validation pipeline: short side 256, centre
    crop 224 (I3D, SlowOnly and C2D configs alike). Their published Kinetics-400 accuracy is the
    10-clip x 3-crop test setting instead: 10 clips spread over the video, three crops along the
    long side of 256 px after resizing the short side to 256 (I3D, SlowOnly, CoST), or of 224 px
    after resizing it to 224 (C2D), probabilities averaged.
    """
    spec = get_arch(arch)
    frames = spec.frame_variants[0] if frames is None else frames
    if frames not in spec.frame_variants:
        raise ValueError(f"{arch} has no {frames}-frame variant "
                         f"(frames: {', '.join(map(str, spec.frame_variants))})")
    clip_len, interval = CLIP_SAMPLING[frames]
    return {"clip_len": clip_len, "frame_interval": interval, "short_side": spec.short_side,
            "crop_size": spec.crop_size, "mean": tuple(spec.mean), "std": tuple(spec.std)}


def current_arch_id(arch: str, stem_rank: int | None) -> str:
    """The id a stored model's network has today, given the config's id and the rank of its
    stem weight (``backbone.conv1.conv.weight``): ``c2d-r50`` with a 5-D stem is ``c2d-r50-cost``."""
    legacy = LEGACY_IDS.get(arch)
    if legacy is not None and stem_rank == legacy[1]:
        return legacy[0]
    return arch


def min_clip_len(arch: str, frames: int) -> int:
    """The fewest frames a clip of ``arch`` (``frames``-frame stem) may hold: fewer and a temporal
    pool (the stem's max-pool, the one after layer1) would have no frame left to pool."""
    spec = get_arch(arch)
    stem = spec.stem(frames)

    def frames_out(t: int) -> int:
        pad = (stem.kernel_t - 1) // 2  # conv1 pads time by half its kernel; the pools do not
        t = (t + 2 * pad - stem.kernel_t) // stem.stride_t + 1
        t = (t - stem.pool_kernel_t) // stem.pool_stride_t + 1
        return (t - 2) // 2 + 1 if spec.temporal_pool and t >= 1 else t

    t = 1
    while frames_out(t) < 1:
        t += 1
    return t


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
