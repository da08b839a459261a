"""A merge recipe: one of the 8 combinations (linear | slerp) x (ties | dare) x (franken | dfs) with
its parameters, applied to parent state dicts in three stages:

    1. interpolation   m1 = linear or slerp of the parents with `weights`
    2. task vectors    m2 = m1 + scale * TIES/DARE(parent_i - anchor), the anchor being the
                       population's base model when it has one (fine-tunes of one base), else m1
                       (models trained apart share no ancestor: their deviations from the
                       interpolation are the task vectors)
    3. layers          the final stack: a FrankenMerge of slices or a DFS path over the layers of
                       m2 and of the parents (source 0 is m2, source i + 1 is parent i); the
                       non-layer tensors are m2's

Source and parent indices refer to models whose layers have the target's shapes; a parent of
another width takes part only in the tensors it shares (state.py). `random_recipe` draws the
parameters of a combination within `RecipeRanges`.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field

import numpy as np

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.merge.layers import LayerLayout, compatible, dfs_slots, dfs_steps, franken_steps, stack_layers
from glyph_dist.forge.merge.methods import method
from glyph_dist.forge.merge.state import StateDict, merge_state_dicts

INTERPOLATIONS, TASKS, LAYER_PLANS = ("linear", "slerp"), ("ties", "dare"), ("franken", "dfs")
COMBOS: list[tuple[str, str, str]] = list(itertools.product(INTERPOLATIONS, TASKS, LAYER_PLANS))


def combo_name(combo) -> str:
    return "+".join(combo)


@dataclass
class RecipeRanges:
    """Where random recipes draw their parameters."""
    density: tuple[float, float] = (0.3, 0.9)
    scale: tuple[float, float] = (0.3, 1.0)
    dfs_repeats: int = 1
    dfs_parent_layer_share: float = 0.2  # chance that a parent's layer joins the path (m2's: 1 - this)
    dfs_scale: tuple[float, float] = (0.8, 1.2)
    max_depth_ratio: float = 1.5  # a path at most this times the target's depth


@dataclass
class Recipe:
    interpolation: str
    task: str
    layers: str
    weights: list[float]
    density: float
    scale: float
    seed: int
    slices: list[list[int]] = field(default_factory=list)  # franken: [source, start, end]
    include: list[bool] = field(default_factory=list)  # dfs
    scales: list[float] = field(default_factory=list)  # dfs
    repeats: int = 1  # dfs

    @property
    def combo(self) -> str:
        return combo_name((self.interpolation, self.task, self.layers))

    def to_dict(self) -> dict:
        return asdict(self)


def _franken_slices(depths: list[int], rng: np.random.Generator) -> list[list[int]]:
    """The target's depth cut in 2-3 contiguous segments, each taken from m2 or a compatible parent
    over the same layer range (a parent shorter than the range offers none)."""
    depth = depths[0]
    cuts = sorted(rng.choice(np.arange(1, depth), size=min(depth - 1, int(rng.integers(1, 3))), replace=False))
    edges = [0, *map(int, cuts), depth]
    slices = []
    for start, end in zip(edges, edges[1:]):
        sources = [s for s, d in enumerate(depths) if d >= end]
        slices.append([int(rng.choice(sources)), start, end])
    return slices


def _dfs_path(depths: list[int], ranges: RecipeRanges, rng: np.random.Generator) -> tuple[list[bool], list[float]]:
    slots = dfs_slots(depths, ranges.dfs_repeats)
    limit = max(1, int(ranges.max_depth_ratio * depths[0]))
    while True:
        include = [bool(rng.random() < (1 - ranges.dfs_parent_layer_share if s == 0 else
                                        ranges.dfs_parent_layer_share)) for s, _ in slots]
        if 1 <= sum(include) <= limit:
            break
    scales = [round(float(rng.uniform(*ranges.dfs_scale)), 4) for _ in slots]
    return include, scales


def random_recipe(combo: tuple[str, str, str], n_parents: int, depths: list[int], ranges: RecipeRanges,
                  rng: np.random.Generator) -> Recipe:
    """A recipe of `combo` for `n_parents` parents; `depths[s]` is source s's depth (0: layers of
    other shapes), source 0 being m2 (the target's depth)."""
    weights = [round(float(w), 4) for w in rng.dirichlet(np.ones(n_parents))]
    recipe = Recipe(*combo, weights=weights, density=round(float(rng.uniform(*ranges.density)), 4),
                    scale=round(float(rng.uniform(*ranges.scale)), 4), seed=int(rng.integers(2**31)))
    if recipe.layers == "franken":
        recipe.slices = _franken_slices(depths, rng) if depths[0] > 1 else [[0, 0, depths[0]]]
    else:
        recipe.include, recipe.scales = _dfs_path(depths, ranges, rng)
        recipe.repeats = ranges.dfs_repeats
    return recipe


def apply_recipe(recipe: Recipe, parents: list[StateDict], layout: LayerLayout, base: StateDict | None = None,
                 target: int = 0) -> StateDict:
    """The merged state dict (the target parent's names and shapes, the plan's depth)."""
    if len(recipe.weights) != len(parents):
        raise GlyphDistError(f"recipe {recipe.combo}: {len(recipe.weights)} weights for {len(parents)} parents")
    m1 = merge_state_dicts(parents, method(recipe.interpolation), recipe.weights, target=target)
    task = method(recipe.task, density=recipe.density)
    anchor = base if base is not None else m1
    combined = merge_state_dicts(parents, task, recipe.weights, base=anchor, target=target, seed=recipe.seed)
    m2 = {name: m1[name] + recipe.scale * (combined[name] - anchor[name])
          if combined[name].is_floating_point() and name in anchor and anchor[name].shape == m1[name].shape
          else m1[name] for name in m1}
    sources = [m2, *parents]
    if recipe.layers == "franken":
        steps = franken_steps([tuple(s) for s in recipe.slices])
    else:
        allowed = set(compatible(sources, layout, 0))
        depths = [layout.depth(s) if i in allowed else 0 for i, s in enumerate(sources)]
        steps = dfs_steps(depths, recipe.repeats, recipe.include, recipe.scales)
    return stack_layers(sources, steps, layout, target=0)


def source_depths(parents: list[StateDict], layout: LayerLayout, target: int = 0) -> list[int]:
    """Depths of the stage-3 sources (m2, then the parents) as random_recipe takes them."""
    allowed = set(compatible(parents, layout, target))
    return [layout.depth(parents[target]), *(layout.depth(p) if i in allowed else 0 for i, p in enumerate(parents))]
