"""The evolution's settings: one YAML mapping plus `key=value` overrides (experiments/forge_evolve*.yaml).

    name: evolve_cognate               # the run: STORAGE_PATH/NAME
    parents: [runs/forge/cognate/reasoning, ...]   # model dirs, run dirs, or catalog names
    base: null                         # the parents' common ancestor, when they are fine-tunes of one
    target: 0                          # whose architecture (and tokenizer) the merges take
    workers: 2                         # Ray evaluation actors
    ga: {generations: 50, ...}         # GAConfig (evolve.py)
    ranges: {density: [0.3, 0.9], ...} # RecipeRanges (recipe.py)
    fitness: {perplexity: 1.0, ...}    # FitnessWeights (fitness.py)
    eval: {seq_len: 128, ...}          # EvalSettings (evaluate.py)

An override names a key (`workers=1`) or a key inside a mapping (`ga.generations=3`). Unknown
keys and values of the wrong type are errors naming the key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.merge.evaluate import EvalSettings
from glyph_dist.forge.merge.evolve import GAConfig
from glyph_dist.forge.merge.fitness import FitnessWeights
from glyph_dist.forge.merge.recipe import RecipeRanges
from glyph_dist.yamlconf import apply_overrides, read_mapping

NESTED = {"ga": GAConfig, "ranges": RecipeRanges, "fitness": FitnessWeights, "eval": EvalSettings}


@dataclass
class EvolveConfig:
    name: str = "evolve"
    storage_path: str = "runs/forge"
    parents: list = field(default_factory=list)
    names: list = field(default_factory=list)  # parents' names in tables (default: their directory names)
    base: str | None = None
    target: int = 0
    workers: int = 2
    ga: GAConfig = field(default_factory=GAConfig)
    ranges: RecipeRanges = field(default_factory=RecipeRanges)
    fitness: FitnessWeights = field(default_factory=FitnessWeights)
    eval: EvalSettings = field(default_factory=EvalSettings)

    @property
    def run_dir(self) -> Path:
        return Path(self.storage_path) / self.name


def _allowed(hint) -> tuple:
    if isinstance(hint, types.UnionType):
        return tuple(t for arg in typing.get_args(hint) for t in _allowed(arg))
    return (typing.get_origin(hint) or hint,)


def _coerce(value, hint, where: str):
    allowed = _allowed(hint)
    if tuple in allowed and isinstance(value, list):
        return tuple(value)
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) and bool not in allowed or not isinstance(value, allowed):
        names = " or ".join("null" if a is type(None) else a.__name__ for a in allowed)
        raise GlyphDistError(f"{where} must be {names}, got {value!r}")
    return value


def _build(kind, values: dict, where: str):
    hints = typing.get_type_hints(kind)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise GlyphDistError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(hints)}")
    checked = {}
    for key, value in values.items():
        if key in NESTED and kind is EvolveConfig:
            if not isinstance(value, dict):
                raise GlyphDistError(f"{where}: {key} must be a mapping")
            checked[key] = _build(NESTED[key], value, f"{where}: {key}")
        else:
            checked[key] = _coerce(value, hints[key], f"{where}: {key}")
    return kind(**checked)


def config_from_dict(values: dict, source: str = "config") -> EvolveConfig:
    config = _build(EvolveConfig, values, source)
    if len(config.parents) < 2:
        raise GlyphDistError(f"{source}: parents must list at least 2 models, got {config.parents}")
    if config.names and len(config.names) != len(config.parents):
        raise GlyphDistError(f"{source}: {len(config.names)} names for {len(config.parents)} parents")
    if not 0 <= config.target < len(config.parents):
        raise GlyphDistError(f"{source}: target {config.target} is not a parent index (0..{len(config.parents) - 1})")
    if config.workers < 1:
        raise GlyphDistError(f"{source}: workers must be >= 1, got {config.workers}")
    return dataclasses.replace(config, storage_path=str(Path(config.storage_path).expanduser().resolve()))


def load_evolve_config(path: Path | str, overrides: list[str] = ()) -> EvolveConfig:
    values = apply_overrides(read_mapping(path), overrides, dict.fromkeys(NESTED, dict))
    return config_from_dict(values, str(path))
