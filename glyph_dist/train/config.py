"""The supervised fine-tuning job's settings: one flat YAML mapping plus `key=value` overrides.

    name: sft_tiny                  # the run: STORAGE_PATH/NAME holds its checkpoints and history
    train_file: data/phase5/glyph_aware/train.jsonl
    val_file: data/phase5/glyph_aware/val.jsonl
    where: {variant: glyph}         # keep the pairs whose fields equal these values
    tape: data/tapes/sgd            # tokenizer: the tape's, with the glyph tokens (or `tokenizer: DIR`)
    gpt2: {n_layer: 2, n_embd: 64}  # a tiny GPT-2 built from these values (or `model: smollm2` or DIR)
    num_workers: 2
    zero_stage: 2

An override names a key (`num_workers=2`) or a key inside a mapping (`gpt2.n_layer=4`,
`where.variant=raw`); its value is read as YAML. A key the job does not know is an error. Relative
paths are made absolute against the working directory when the config is loaded.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from transformers import GPT2Config

from glyph_dist.errors import GlyphDistError
from glyph_dist.models.catalog import resolve_model
from glyph_dist.yamlconf import apply_overrides, read_mapping, set_key

ZERO_STAGES = (0, 1, 2, 3)
PATH_KEYS = ("storage_path", "train_file", "val_file", "tape", "tokenizer", "resume_from")


def default_gpt2() -> dict:
    """The embedded default model: a tiny GPT-2 without dropout (training is then deterministic);
    a config's `gpt2` values are laid over these."""
    return {"n_layer": 2, "n_head": 2, "n_embd": 64, "n_positions": 512,
            "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}


@dataclass
class SFTConfig:
    name: str = "sft"
    storage_path: str = "runs/train"
    # data: (prompt, target) JSONL; the loss covers the target tokens only
    train_file: str = ""
    val_file: str = ""
    where: dict = field(default_factory=dict)
    max_length: int = 512  # longer pairs lose the start of their prompt
    # batches: each global batch holds pairs of similar lengths (drawn from `length_window` global
    # batches' worth of pairs; 1: random), padded to a multiple of `pad_multiple` tokens
    length_window: int = 16
    pad_multiple: int = 16
    # tokenizer: the tape's (with glyph tokens), a local directory, or else the model's
    tape: str | None = None
    tokenizer: str | None = None
    glyph_codes_as_text: bool = False  # true: a tokenizer without glyph tokens reads glyph codes as characters
    # model: a catalog name (smollm2) or a local Hugging Face causal LM, or else a tiny GPT-2 from `gpt2`
    model: str | None = None
    gpt2: dict = field(default_factory=default_gpt2)
    # optimisation (AdamW, linear warmup then cosine decay to min_lr, as in nanoGPT)
    seed: int = 1337
    max_steps: int = 100
    micro_batch_size: int = 4
    grad_accum: int = 1
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 10
    lr_decay_steps: int | None = None  # None: max_steps
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0: no clipping
    zero_stage: int = 2
    offload_optimizer: bool = False
    torch_compile: bool | None = None  # None: on GPU only (on a few CPU cores compiling alone takes minutes)
    # evaluation, metrics, checkpoints
    eval_every: int = 50
    log_every: int = 10
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    resume_from: str | None = None  # a checkpoint directory of an earlier run
    max_failures: int = 2  # worker-group restarts (each from the latest checkpoint) before the run fails
    # scaling
    num_workers: int = 1
    use_gpu: bool = False
    cpus_per_worker: float = 1.0

    @property
    def global_batch(self) -> int:
        return self.micro_batch_size * self.grad_accum * self.num_workers

    @property
    def decay_steps(self) -> int:
        return self.max_steps if self.lr_decay_steps is None else self.lr_decay_steps

    @property
    def compiled(self) -> bool:
        return self.use_gpu if self.torch_compile is None else self.torch_compile


_HINTS = typing.get_type_hints(SFTConfig)
_FROM_TOKENIZER = {"vocab_size", "bos_token_id", "eos_token_id", "pad_token_id"}
_GPT2_KEYS = set(GPT2Config().to_dict()) - _FROM_TOKENIZER


def _allowed(hint) -> tuple[type, ...]:
    if isinstance(hint, types.UnionType):
        return tuple(t for arg in typing.get_args(hint) for t in _allowed(arg))
    return (type(None),) if hint is type(None) else (hint,)


def _coerce(key: str, value, source: str):
    """The value checked against the field's type (an int is taken for a float)."""
    allowed = _allowed(_HINTS[key])
    if float in allowed and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) and bool not in allowed or not isinstance(value, allowed):
        names = " or ".join("null" if t is type(None) else t.__name__ for t in allowed)
        raise GlyphDistError(f"{source}: {key} must be {names}, got {value!r}")
    return value


def _positive(config: SFTConfig, source: str, *keys: str, allow_zero: bool = False) -> None:
    for key in keys:
        value = getattr(config, key)
        if value is not None and (value < 0 if allow_zero else value < 1):
            raise GlyphDistError(f"{source}: {key} must be {'>= 0' if allow_zero else '>= 1'}, got {value}")


def check_config(config: SFTConfig, source: str = "config") -> SFTConfig:
    """Raise GlyphDistError naming the first key with a bad value; returns the config."""
    for f in dataclasses.fields(config):
        setattr(config, f.name, _coerce(f.name, getattr(config, f.name), source))
    for key in ("name", "train_file", "val_file"):
        if not getattr(config, key):
            raise GlyphDistError(f"{source}: {key} is required")
    _positive(config, source, "max_length", "max_steps", "micro_batch_size", "grad_accum", "eval_every",
              "log_every", "checkpoint_every", "keep_checkpoints", "num_workers", "lr_decay_steps", "length_window",
              "pad_multiple")
    _positive(config, source, "warmup_steps", "learning_rate", "min_lr", "weight_decay", "grad_clip",
              "cpus_per_worker", "max_failures", allow_zero=True)
    if config.zero_stage not in ZERO_STAGES:
        raise GlyphDistError(f"{source}: zero_stage must be one of {', '.join(map(str, ZERO_STAGES))}, "
                             f"got {config.zero_stage}")
    if config.tape and config.tokenizer:
        raise GlyphDistError(f"{source}: name either tape or tokenizer, not both")
    if not (config.tape or config.tokenizer or config.model):
        raise GlyphDistError(f"{source}: no tokenizer: set tape, tokenizer or model")
    unknown = sorted(set(config.gpt2) - _GPT2_KEYS)
    if unknown:
        raise GlyphDistError(f"{source}: unknown gpt2 key(s) {', '.join(unknown)} (GPT2Config fields other "
                             f"than {', '.join(sorted(_FROM_TOKENIZER))}, which the tokenizer sets)")
    config.gpt2 = {**default_gpt2(), **config.gpt2}
    return config


def absolute_paths(config: SFTConfig) -> SFTConfig:
    """The config with its relative paths made absolute against the working directory, and `model`
    (a catalog name or a local directory) resolved to its directory."""
    paths = {k: str(Path(getattr(config, k)).expanduser().resolve()) for k in PATH_KEYS if getattr(config, k)}
    return dataclasses.replace(config, **paths, **({"model": str(resolve_model(config.model))} if config.model else {}))


# The mapping fields that take dotted keys (`where.variant=raw`), each from its default.
_SECTIONS = {key: (lambda key=key: getattr(SFTConfig(), key)) for key, hint in _HINTS.items() if hint is dict}


def config_from_dict(values: dict, source: str = "config") -> SFTConfig:
    """An SFTConfig from a mapping of its keys (unknown keys are an error), checked and with absolute paths."""
    kwargs: dict = {}
    for key, value in values.items():
        set_key(kwargs, str(key), value, _SECTIONS, _HINTS, source)
    return absolute_paths(check_config(SFTConfig(**kwargs), source))


def load_sft_config(path: Path | str, overrides: list[str] = ()) -> SFTConfig:
    """The YAML file's config with `key=value` overrides applied (values read as YAML)."""
    return config_from_dict(apply_overrides(read_mapping(path), overrides, _SECTIONS, _HINTS), str(path))
