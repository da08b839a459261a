"""Layer plans: a new stack of transformer layers taken whole from several models.

    FrankenMerge   mergekit's passthrough slices: (source, start, end) ranges of layers, stacked in
                   order (layers may repeat); every layer is a real layer of a source model
    DFS            the data-flow merge of Sakana's evolutionary model merge (Akiba et al. 2024):
                   the candidate layers are every source's layers in order, the sequence repeated
                   `repeats` times; an indicator per slot includes it in the path, and a scale per
                   slot weights what the layer adds to the residual stream

A scale multiplies the layer's residual output projections (`LayerLayout.scaled`), so the layer
adds s·f(h) to the stream: the path stays a plain state dict of the same architecture with its
own depth, which any loader reads (as mergekit's passthrough `scale` does). Tensors outside the
layers (embeddings, final norm, head) are the target model's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import Tensor

from glyph_dist.errors import GlyphDistError

StateDict = dict[str, Tensor]
Step = tuple[int, int, float]  # (source model, layer index in it, scale)


@dataclass(frozen=True)
class LayerLayout:
    """Where a family's layers live in its state dict: `PREFIX{index}.{suffix}`."""
    prefix: str
    scaled: tuple[str, ...]  # suffixes of the residual output projections

    @property
    def pattern(self) -> re.Pattern:
        return re.compile(rf"^{re.escape(self.prefix)}(\d+)\.(.+)$")

    def layers(self, state: StateDict) -> dict[int, dict[str, Tensor]]:
        found: dict[int, dict[str, Tensor]] = {}
        for name, tensor in state.items():
            match = self.pattern.match(name)
            if match:
                found.setdefault(int(match[1]), {})[match[2]] = tensor
        return dict(sorted(found.items()))

    def depth(self, state: StateDict) -> int:
        return len(self.layers(state))


def _signature(layer: dict[str, Tensor]) -> dict[str, tuple]:
    return {suffix: tuple(t.shape) for suffix, t in layer.items()}


def compatible(sources: list[StateDict], layout: LayerLayout, target: int = 0) -> list[int]:
    """The sources whose layers have the target's tensor names and shapes."""
    want = _signature(layout.layers(sources[target])[0])
    return [i for i, s in enumerate(sources) if (layers := layout.layers(s)) and _signature(layers[0]) == want]


def stack_layers(sources: list[StateDict], steps: list[Step], layout: LayerLayout, target: int = 0) -> StateDict:
    """The target's non-layer tensors and, as layers 0..len(steps)-1, the layers the steps name."""
    if not steps:
        raise GlyphDistError("layer plan: the path has no layer")
    allowed = set(compatible(sources, layout, target))
    stacks = {i: layout.layers(sources[i]) for i in allowed}
    merged = {name: t for name, t in sources[target].items() if not layout.pattern.match(name)}
    for position, (source, index, scale) in enumerate(steps):
        if source not in allowed or index not in stacks[source]:
            raise GlyphDistError(f"layer plan: step {position} names layer {index} of model {source}, which "
                                 f"{'has no such layer' if source in allowed else 'has layers of other shapes'}")
        for suffix, tensor in stacks[source][index].items():  # copies: a repeated layer shares no storage
            scaled = tensor * scale if suffix in layout.scaled else tensor.clone()
            merged[f"{layout.prefix}{position}.{suffix}"] = scaled
    return merged


def franken_steps(slices: list[tuple[int, int, int]]) -> list[Step]:
    """Passthrough slices (source, start, end), end exclusive, as steps of scale 1."""
    return [(source, i, 1.0) for source, start, end in slices for i in range(start, end)]


def dfs_slots(depths: list[int], repeats: int) -> list[tuple[int, int]]:
    """Every candidate (source, layer): the sources' layers in order, repeated `repeats` times; a
    source of depth 0 (incompatible) offers none."""
    return [(s, i) for _ in range(repeats) for s, depth in enumerate(depths) for i in range(depth)]


def dfs_steps(depths: list[int], repeats: int, include: list[bool], scales: list[float]) -> list[Step]:
    slots = dfs_slots(depths, repeats)
    if len(include) != len(slots) or len(scales) != len(slots):
        raise GlyphDistError(f"DFS path: {len(include)} indicators and {len(scales)} scales for {len(slots)} slots")
    return [(s, i, scale) for (s, i), keep, scale in zip(slots, include, scales) if keep]
