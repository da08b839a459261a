"""Checkpoints: a `save_pretrained` directory (model and tokenizer) that also holds the training state.

    checkpoint_000040/
      config.json  model.safetensors  ...   the model; under ZeRO-3 its weights are gathered first
      tokenizer.json  tokenizer_config.json
      train_state.json                      step, workers, ZeRO stage, the metrics of every step so far
      deepspeed/                            DeepSpeed's own checkpoint: optimizer states per worker

Every worker writes its part into a local directory and reports it; Ray Train merges the parts
into one checkpoint directory. Loading the model needs only `from_pretrained(dir)`; resuming needs
the same number of workers and ZeRO stage (the optimizer states are partitioned by them).
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from glyph_dist.errors import GlyphDistError
from glyph_dist.train.config import SFTConfig

STATE_FILE = "train_state.json"
DEEPSPEED_DIR = "deepspeed"
TAG = "state"


def read_state(directory: Path) -> dict:
    try:
        return json.loads((directory / STATE_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GlyphDistError(f"{directory}: not a checkpoint of this job (no readable {STATE_FILE})") from exc


def check_resumable(directory: Path, config: SFTConfig) -> dict:
    """The checkpoint's training state, if this config can continue from it."""
    state = read_state(directory)
    if not (directory / DEEPSPEED_DIR).is_dir():
        raise GlyphDistError(f"{directory}: no {DEEPSPEED_DIR}/ optimizer states to resume from")
    if (state["workers"], state["zero_stage"]) != (config.num_workers, config.zero_stage):
        raise GlyphDistError(
            f"{directory} was written by {state['workers']} workers under ZeRO-{state['zero_stage']}; resuming needs "
            f"the same (num_workers={state['workers']} zero_stage={state['zero_stage']}), or start afresh from its "
            f"weights with model={directory} and a new name")
    return state


def save(engine, tokenizer: PreTrainedTokenizerBase, directory: Path, state: dict, rank: int) -> None:
    """Write this worker's part of a checkpoint (every worker calls it: both steps are collective)."""
    import deepspeed

    with deepspeed.zero.GatheredParameters(list(engine.module.parameters())):  # a no-op below ZeRO-3
        if rank == 0:
            engine.module.lm.save_pretrained(directory)  # engine.module is the TargetLoss around the model
            tokenizer.save_pretrained(directory)
            (directory / STATE_FILE).write_text(json.dumps(state))
    engine.save_checkpoint(str(directory / DEEPSPEED_DIR), tag=TAG)


def restore(engine, directory: Path, config: SFTConfig) -> dict:
    """Load weights and optimizer states into `engine`; returns the checkpoint's training state."""
    state = check_resumable(directory, config)
    path, _ = engine.load_checkpoint(str(directory / DEEPSPEED_DIR), tag=TAG)
    if path is None:
        raise GlyphDistError(f"{directory}: DeepSpeed found no checkpoint under {DEEPSPEED_DIR}/{TAG}")
    return state
