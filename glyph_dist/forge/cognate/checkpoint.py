"""A Cognate model on disk, and the training state a checkpoint adds to it.

    MODEL_DIR/
      cognate.json        {"model": CognateConfig fields, "specialisation": NAME, "size": {...}}
      model.safetensors   the state dict (the tied embedding / output head stored once)
      tokenizer.json ...  the tokenizer (save_pretrained)

    checkpoint_000040/    a model directory, plus:
      train_state.json    step, workers, the metrics of every step so far (train.checkpoint's file)
      optimizer.pt        Muon, AdamW and Grokfast states

`build_model(config)` and `load_state_dict`/`state_dict` are all a merge needs: models of one
config share parameter names and shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_model, save_model

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.cognate.model import Cognate, CognateConfig
from glyph_dist.forge.cognate.sizes import model_size
from glyph_dist.forge.cognate.tokenizer import load_tokenizer
from glyph_dist.train.checkpoint import STATE_FILE, read_state

CONFIG_FILE, WEIGHTS_FILE, OPTIMIZER_FILE = "cognate.json", "model.safetensors", "optimizer.pt"


def build_model(config: CognateConfig | dict, seed: int | None = None) -> Cognate:
    """A freshly initialised model (seeded when `seed` is given)."""
    config = config if isinstance(config, CognateConfig) else CognateConfig.from_dict(config)
    if seed is not None:
        torch.manual_seed(seed)
    return Cognate(config)


def save_pretrained(model: Cognate, tokenizer, directory: Path, specialisation: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    size = model_size(model)
    meta = {"model": vars(model.config), "specialisation": specialisation,
            "size": {"embedding": size.embedding, "non_embedding": size.non_embedding, "category": size.category}}
    (directory / CONFIG_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    save_model(model, str(directory / WEIGHTS_FILE))
    tokenizer.save_pretrained(directory)
    return directory


def read_meta(directory: Path) -> dict:
    path = Path(directory) / CONFIG_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GlyphDistError(f"{directory}: not a Cognate model directory (no readable {CONFIG_FILE})") from exc


def load_pretrained(directory: Path, device: str | torch.device = "cpu") -> tuple[Cognate, object]:
    """(model in eval mode, tokenizer) from a model or checkpoint directory."""
    directory = Path(directory)
    model = Cognate(CognateConfig.from_dict(read_meta(directory)["model"], str(directory / CONFIG_FILE)))
    missing, unexpected = load_model(model, str(directory / WEIGHTS_FILE), strict=False, device=str(device))
    if missing or unexpected:
        raise GlyphDistError(f"{directory}: weights do not match the config (missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]})")
    return model.to(device).eval(), load_tokenizer(directory)


def save_checkpoint(model: Cognate, tokenizer, optimizer, state: dict, directory: Path,
                    specialisation: str | None = None) -> Path:
    save_pretrained(model, tokenizer, directory, specialisation)
    torch.save(optimizer.state_dict(), directory / OPTIMIZER_FILE)
    (directory / STATE_FILE).write_text(json.dumps(state))
    return directory


def restore_checkpoint(model: Cognate, optimizer, directory: Path) -> dict:
    """Load weights and optimiser states into `model` and `optimizer`; returns the training state."""
    state = read_state(directory)
    meta = read_meta(directory)
    if meta["model"] != vars(model.config):
        raise GlyphDistError(f"{directory}: written for another model config; resume with the same config")
    load_model(model, str(directory / WEIGHTS_FILE), device=str(next(model.parameters()).device))
    optimizer.load_state_dict(torch.load(directory / OPTIMIZER_FILE, weights_only=True))
    return state
