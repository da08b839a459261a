"""The pretraining job's settings: one YAML mapping plus `key=value` overrides (experiments/forge_cognate*.yaml).

    name: cognate                      # runs STORAGE_PATH/NAME-SPECIALISATION, one per specialisation
    specialisations: [reasoning, memory, speed]
    tokenizer: bpe                     # trained on the curriculum (bpe_vocab tokens), or smollm2 / DIR
    model: {d_model: 512, n_layers: 7} # the base CognateConfig the specialisations derive from
    optim: {muon_lr: 0.02}             # OptimConfig fields
    curriculum: [...]                  # stages (data.py)
    max_steps: 600

An override names a key (`max_steps=50`) or a key inside a mapping (`model.d_model=64`,
`eval.gsm8k_questions=10`). A key the job does not know is an error, as is a value of the wrong type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.cognate.data import BUILTIN, parse_curriculum
from glyph_dist.forge.cognate.evaluate import EvalSettings
from glyph_dist.forge.cognate.model import CognateConfig
from glyph_dist.forge.cognate.optim import OptimConfig
from glyph_dist.forge.cognate.specialisations import SPECIALISATIONS
from glyph_dist.yamlconf import apply_overrides, read_mapping


def default_curriculum() -> list[dict]:
    return [{"name": "dialogue", "share": 0.3, "sources": ["sgd"]},
            {"name": "arithmetic", "share": 0.3, "sources": ["svamp", "sgd"]},
            {"name": "reasoning", "share": 0.4, "sources": ["gsm8k", "svamp"]}]


@dataclass
class PretrainConfig:
    name: str = "cognate"
    storage_path: str = "runs/forge"
    datasets: str = "../shared/datasets"
    tokenizer: str = "bpe"
    bpe_vocab: int = 8192
    specialisations: list = field(default_factory=lambda: list(SPECIALISATIONS))
    model: dict = field(default_factory=dict)  # base CognateConfig fields; vocab_size comes from the tokenizer
    optim: dict = field(default_factory=dict)  # OptimConfig fields
    curriculum: list = field(default_factory=default_curriculum)
    heldout_sources: list = field(default_factory=lambda: list(BUILTIN))
    seq_len: int = 256
    micro_batch_size: int = 0  # 0: set by the model's size category (sizes.py)
    grad_accum: int = 0  # 0: likewise
    max_steps: int = 200
    act_weight: float = 0.5  # the halting loss's weight beside the language-model loss
    grad_clip: float = 1.0  # 0: no clipping
    seed: int = 1337
    eval_every: int = 100
    eval_tokens: int = 4096  # held-out tokens a source for the evaluations during training
    log_every: int = 10
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    eval: dict = field(default_factory=dict)  # EvalSettings fields of the final evaluation
    num_workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: float = 1.0
    max_failures: int = 1

    def base_model(self, vocab_size: int) -> CognateConfig:
        return CognateConfig.from_dict({**self.model, "vocab_size": vocab_size, "max_seq_len":
                                        self.model.get("max_seq_len", self.seq_len)}, "config model")

    @property
    def optim_config(self) -> OptimConfig:
        values = {k: tuple(v) if k == "betas" else v for k, v in self.optim.items()}
        return OptimConfig(**values)

    @property
    def eval_settings(self) -> EvalSettings:
        return EvalSettings(**{"seq_len": self.seq_len, **self.eval})


_HINTS = typing.get_type_hints(PretrainConfig)
_NESTED = {"model": CognateConfig, "optim": OptimConfig, "eval": EvalSettings}


def _allowed(hint) -> tuple[type, ...]:
    if isinstance(hint, types.UnionType):
        return tuple(t for arg in typing.get_args(hint) for t in _allowed(arg))
    return (type(None),) if hint is type(None) else (typing.get_origin(hint) or hint,)


def _check_type(key: str, value, hint, source: str):
    allowed = _allowed(hint)
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (isinstance(value, bool) and bool not in allowed) or not isinstance(value, allowed):
        names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
        raise GlyphDistError(f"{source}: {key} must be {names}, got {value!r}")
    return value


def check_config(config: PretrainConfig, source: str = "config") -> PretrainConfig:
    """Raise GlyphDistError naming the first bad key; returns the config."""
    for f in dataclasses.fields(config):
        setattr(config, f.name, _check_type(f.name, getattr(config, f.name), _HINTS[f.name], source))
    for key, kind in _NESTED.items():
        hints = typing.get_type_hints(kind)
        for sub, value in getattr(config, key).items():
            if sub not in hints or (key == "model" and sub == "vocab_size"):
                known = sorted(set(hints) - {"vocab_size"})
                raise GlyphDistError(f"{source}: unknown key {key}.{sub}; known: {', '.join(known)}")
            if not (key == "optim" and sub == "betas"):
                getattr(config, key)[sub] = _check_type(f"{key}.{sub}", value, hints[sub], source)
    for key in ("bpe_vocab", "seq_len", "max_steps", "eval_every", "eval_tokens", "log_every", "checkpoint_every",
                "keep_checkpoints", "num_workers"):
        if getattr(config, key) < 1:
            raise GlyphDistError(f"{source}: {key} must be >= 1, got {getattr(config, key)}")
    for key in ("micro_batch_size", "grad_accum", "act_weight", "grad_clip", "max_failures", "cpus_per_worker"):
        if getattr(config, key) < 0:
            raise GlyphDistError(f"{source}: {key} must be >= 0, got {getattr(config, key)}")
    unknown = [s for s in config.specialisations if s not in SPECIALISATIONS]
    if unknown or not config.specialisations:
        raise GlyphDistError(f"{source}: specialisations must name some of {', '.join(SPECIALISATIONS)}, "
                             f"got {config.specialisations}")
    parse_curriculum(config.curriculum, f"{source}: curriculum")
    config.base_model(config.bpe_vocab)  # the model values checked before any data is read
    config.optim_config
    config.eval_settings
    return config


def config_from_dict(values: dict, source: str = "config") -> PretrainConfig:
    unknown = sorted(set(values) - set(_HINTS))
    if unknown:
        raise GlyphDistError(f"{source}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(_HINTS)}")
    config = check_config(PretrainConfig(**values), source)
    paths = {k: str(Path(getattr(config, k)).expanduser().resolve()) for k in ("storage_path", "datasets")}
    return dataclasses.replace(config, **paths)


def load_pretrain_config(path: Path | str, overrides: list[str] = ()) -> PretrainConfig:
    """The YAML file's config with `key=value` overrides (values read as YAML; `model.d_model=64` sets
    one key of a mapping)."""
    values = apply_overrides(read_mapping(path), overrides, dict.fromkeys(_NESTED, dict))
    return config_from_dict(values, str(path))
