"""The named CoST network shapes (no torch here: listing models must start fast)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArchSpec:
    """A named CoST network shape."""

    name: str
    kind: str | None  # 'a', 'b', or None for C2D (no CoST layers)
    blocks: tuple[int, int, int, int]
    inflate: tuple[tuple[int, ...], ...]
    base_width: int = 64
    description: str = ""

    @property
    def depth(self) -> int | str:
        return {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101}.get(self.blocks, "custom")


def _alternate(n: int, first: int) -> tuple[int, ...]:
    return tuple((i + first + 1) % 2 for i in range(n))


_R50_INFLATE = ((0, 1, 0), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (1, 0, 1))
_R101_INFLATE = ((0, 1, 0), (1, 0, 1, 0), _alternate(23, 0), (0, 1, 0))
_NONE_50 = tuple(tuple(0 for _ in s) for s in _R50_INFLATE)
_TINY_BLOCKS = (1, 1, 1, 1)
_TINY_INFLATE = ((1,), (1,), (1,), (1,))

ARCHITECTURES: dict[str, ArchSpec] = {
    spec.name: spec
    for spec in [
        ArchSpec("costa-r50", "a", (3, 4, 6, 3), _R50_INFLATE, 64, "CoST(a), ResNet-50"),
        ArchSpec("costb-r50", "b", (3, 4, 6, 3), _R50_INFLATE, 64, "CoST(b), ResNet-50"),
        ArchSpec("costa-r101", "a", (3, 4, 23, 3), _R101_INFLATE, 64, "CoST(a), ResNet-101"),
        ArchSpec("costb-r101", "b", (3, 4, 23, 3), _R101_INFLATE, 64, "CoST(b), ResNet-101"),
        ArchSpec("c2d-r50", None, (3, 4, 6, 3), _NONE_50, 64, "C2D baseline, ResNet-50"),
        ArchSpec("costa-tiny", "a", _TINY_BLOCKS, _TINY_INFLATE, 16,
                 "CoST(a), 1 block per stage, width 16 (tests, CPU)"),
        ArchSpec("costb-tiny", "b", _TINY_BLOCKS, _TINY_INFLATE, 16,
                 "CoST(b), 1 block per stage, width 16 (tests, CPU, bundled model)"),
        ArchSpec("c2d-tiny", None, _TINY_BLOCKS, ((0,), (0,), (0,), (0,)), 16,
                 "C2D baseline, 1 block per stage, width 16"),
    ]
}

FRAME_VARIANTS = (8, 32)


def get_arch(name: str) -> ArchSpec:
    """Look up an architecture id (``costb-r50`` ...); raises KeyError with the known ids."""
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise KeyError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}") from None
