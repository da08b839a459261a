"""A merge method applied to whole state dicts, tensor by tensor.

The output has the names and shapes of the target model (`target`, the first by default). A model
whose tensor of a name is missing or has another shape takes no part in that tensor (the weights
of the others are used as given; linear merges renormalise over them), so models of related but
unequal architectures merge where they agree. A tensor only the target has, a non-float tensor,
and, for the task-vector methods, a tensor the base lacks are the target's unchanged.

DARE draws its masks from a generator seeded per tensor (`seed` and the tensor's name), so a
merge does not depend on the order in which tensors are visited.
"""

from __future__ import annotations

import hashlib

import torch
from torch import Tensor

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.merge.methods import MergeMethod

StateDict = dict[str, Tensor]


def tensor_seed(seed: int, name: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}:{name}".encode(), digest_size=8).digest(), "big") >> 1


def participants(models: list[StateDict], name: str, shape: torch.Size) -> list[int]:
    return [i for i, m in enumerate(models) if name in m and m[name].shape == shape]


def shared_fraction(model: StateDict, target: StateDict) -> float:
    """The share of the target's parameters that `model` holds under the same name and shape."""
    total = sum(t.numel() for t in target.values())
    return sum(t.numel() for n, t in target.items() if n in model and model[n].shape == t.shape) / total


def merge_state_dicts(models: list[StateDict], method: MergeMethod, weights: list[float],
                      base: StateDict | None = None, target: int = 0, seed: int = 0) -> StateDict:
    if len(weights) != len(models) or not models:
        raise GlyphDistError(f"merge: {len(weights)} weights for {len(models)} models")
    if method.needs_base and base is None:
        raise GlyphDistError(f"merge method {method.name} needs a base model")
    merged = {}
    for name, tensor in models[target].items():
        if not tensor.is_floating_point():
            merged[name] = tensor
            continue
        taking = participants(models, name, tensor.shape)
        origin = base.get(name) if base is not None else None
        if len(taking) < 2 and not method.needs_base or (
                method.needs_base and (origin is None or origin.shape != tensor.shape)):
            merged[name] = tensor
            continue
        generator = torch.Generator().manual_seed(tensor_seed(seed, name))
        merged[name] = method.merge([models[i][name] for i in taking], [weights[i] for i in taking], origin,
                                    generator)
    return merged
