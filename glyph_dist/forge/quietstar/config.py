"""The Quiet-STaR settings: one YAML mapping for bake, train and eval, plus `key=value` overrides.

    name: quietstar_tiny
    model: null            # catalog name or HF causal-LM directory; null: a tiny Llama built from `llama`
    tokenizer: smollm2     # only with model null
    limit: 2000            # GSM8K train problems turned into thought pairs (null: all)
    sft: {max_steps: 200, ...}   # the SFT job's keys for baking (train/config.py)
    rl: {max_steps: 50, n_thoughts: 4, thought_length: 8, ...}   # RLConfig (rl.py)
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.cognate.config import _check_type
from glyph_dist.forge.jobconfig import check_types, from_mapping
from glyph_dist.yamlconf import apply_overrides, read_mapping
from glyph_dist.forge.tiny import default_llama


@dataclass
class RLConfig:
    max_steps: int = 50
    batch_size: int = 2  # windows a step
    window: int = 48  # context tokens before a sampled position
    positions: int = 2  # sampled positions a window
    n_thoughts: int = 4  # thoughts a position (the reward's baseline is their mean)
    thought_length: int = 8  # sampled tokens between [thinking] and [/endthinking]
    ahead: int = 4  # true next tokens the reward scores
    temperature: float = 1.0
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3
    policy_weight: float = 1.0
    kl_coef: float = 0.1
    grad_clip: float = 1.0
    check_every: int = 10  # anti-theater checks (and a checkpoint when they pass) every N steps
    check_windows: int = 8  # held-out windows the checks score
    min_ablation_drop: float = 0.02
    min_divergence: float = 0.5
    min_correlation: float = 0.0
    max_rollbacks: int = 3


@dataclass
class QuietStarConfig:
    name: str = "quietstar"
    storage_path: str = "runs/forge"
    datasets: str = "../shared/datasets"
    model: str | None = "smollm2"
    tokenizer: str | None = None
    llama: dict = field(default_factory=default_llama)
    seed: int = 1337
    limit: int | None = None
    accuracy_threshold: float = 0.85
    sft: dict = field(default_factory=dict)
    rl: dict = field(default_factory=dict)
    num_workers: int = 1
    cpus_per_worker: float = 1.0

    @property
    def run_dir(self) -> Path:
        return Path(self.storage_path) / self.name

    @property
    def rl_config(self) -> RLConfig:
        return RLConfig(**self.rl)


_RL_HINTS = typing.get_type_hints(RLConfig)


def check_config(config: QuietStarConfig, source: str = "config") -> QuietStarConfig:
    check_types(config, source)
    for key, value in config.rl.items():
        if key not in _RL_HINTS:
            raise GlyphDistError(f"{source}: unknown key rl.{key}; known: {', '.join(_RL_HINTS)}")
        config.rl[key] = _check_type(f"rl.{key}", value, _RL_HINTS[key], source)
        if key.startswith("min_"):
            continue  # thresholds: any value
        if value < 0 or (value == 0 and key not in ("kl_coef", "policy_weight", "grad_clip", "max_rollbacks")):
            raise GlyphDistError(f"{source}: rl.{key} must be > 0, got {value}")
    if config.rl_config.n_thoughts < 2:
        raise GlyphDistError(f"{source}: rl.n_thoughts must be >= 2 (the reward compares a thought with their mean)")
    if config.model is None and config.tokenizer is None:
        raise GlyphDistError(f"{source}: a tiny Llama (model: null) needs a tokenizer (a catalog name or directory)")
    if config.limit is not None and config.limit < 1:
        raise GlyphDistError(f"{source}: limit must be >= 1 or null, got {config.limit}")
    return config


def config_from_dict(values: dict, source: str = "config") -> QuietStarConfig:
    return from_mapping(QuietStarConfig, values, check_config, source)


def load_quietstar_config(path: Path | str, overrides: list[str] = ()) -> QuietStarConfig:
    """The YAML file's config with `key=value` overrides (`rl.n_thoughts=2`, `sft.max_steps=10`, `llama.x=...`)."""
    nested = {"llama": default_llama, "sft": dict, "rl": dict}
    return config_from_dict(apply_overrides(read_mapping(path), overrides, nested), str(path))
