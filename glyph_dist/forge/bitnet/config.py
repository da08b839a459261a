"""The BitNet QAT job's settings: one flat YAML mapping plus `key=value` overrides.

    name: bitnet_tiny
    model: smollm2           # catalog name or HF causal-LM directory; null: a tiny Llama built from `llama`
    tokenizer: smollm2       # only with model null (a model directory brings its own)
    llama: {hidden_size: 64, num_hidden_layers: 4, ...}
    quantize: true           # false: the same fine-tune in full precision (the control)
    lambda_ramp_steps: 50    # λ linear from 0 (full precision) to 1 (ternary) over these steps
    keep: auto               # modules kept in full precision: the size-adaptive policy, or patterns
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.jobconfig import check_types, from_mapping
from glyph_dist.yamlconf import apply_overrides, read_mapping
from glyph_dist.forge.tiny import default_llama


@dataclass
class QATConfig:
    name: str = "bitnet"
    storage_path: str = "runs/forge"
    model: str | None = "smollm2"
    tokenizer: str | None = None
    llama: dict = field(default_factory=default_llama)
    datasets: str = "../shared/datasets"
    sources: list = field(default_factory=lambda: ["gsm8k", "svamp"])
    heldout_sources: list = field(default_factory=lambda: ["gsm8k"])
    seq_len: int = 128
    micro_batch_size: int = 8
    grad_accum: int = 1
    max_steps: int = 100
    learning_rate: float = 3e-4
    warmup_steps: int = 10
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # 0: no clipping
    quantize: bool = True
    lambda_ramp_steps: int = 50
    keep: str | list = "auto"
    input_norm: bool = False
    seed: int = 1337
    eval_tokens: int = 4096  # held-out tokens a source for the final evaluation
    log_every: int = 10
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    num_workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: float = 1.0
    max_failures: int = 0


def check_config(config: QATConfig, source: str = "config") -> QATConfig:
    """Raise GlyphDistError naming the first bad key; returns the config."""
    check_types(config, source)
    for key in ("seq_len", "micro_batch_size", "grad_accum", "max_steps", "log_every", "checkpoint_every",
                "keep_checkpoints", "num_workers", "eval_tokens"):
        if getattr(config, key) < 1:
            raise GlyphDistError(f"{source}: {key} must be >= 1, got {getattr(config, key)}")
    for key in ("learning_rate", "warmup_steps", "weight_decay", "grad_clip", "lambda_ramp_steps", "max_failures"):
        if getattr(config, key) < 0:
            raise GlyphDistError(f"{source}: {key} must be >= 0, got {getattr(config, key)}")
    if config.keep != "auto" and not (isinstance(config.keep, list) and all(isinstance(p, str) for p in config.keep)):
        raise GlyphDistError(f"{source}: keep must be 'auto' or a list of module-name patterns, got {config.keep!r}")
    if config.model is None and config.tokenizer is None:
        raise GlyphDistError(f"{source}: a tiny Llama (model: null) needs a tokenizer (a catalog name or directory)")
    if not config.sources:
        raise GlyphDistError(f"{source}: sources must name at least one training source")
    return config


def config_from_dict(values: dict, source: str = "config") -> QATConfig:
    return from_mapping(QATConfig, values, check_config, source)


def load_qat_config(path: Path | str, overrides: list[str] = ()) -> QATConfig:
    """The YAML file's config with `key=value` overrides (`llama.hidden_size=128` sets one key of llama)."""
    return config_from_dict(apply_overrides(read_mapping(path), overrides, {"llama": default_llama}), str(path))
