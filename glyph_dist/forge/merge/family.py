"""Model families that EvoMerge reads and writes: a model directory <-> (state dict, config).

    cognate   a Cognate model directory (cognate/checkpoint.py: cognate.json, model.safetensors,
              tokenizer); layers `blocks.N.`, residual outputs attn.proj and mlp.down
    hf        a Hugging Face Llama-architecture causal LM (SmolLM2): config.json, one
              model.safetensors, tokenizer files; layers `model.layers.N.`, residual outputs
              self_attn.o_proj and mlp.down_proj

A state dict is what the weights file holds (a tied output head stored once). A merged model is
written in its family's own format, with the target parent's config at the merged depth and its
tokenizer, so `glyph-dist forge eval` or any Hugging Face loader reads it.
"""

from __future__ import annotations

import json
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from safetensors.torch import load_file, save_file

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.merge.layers import LayerLayout
from glyph_dist.forge.merge.state import StateDict

WEIGHTS = "model.safetensors"


@dataclass
class Model:
    state: StateDict
    config: dict
    directory: Path  # where it was read from (its tokenizer is copied along)


class Family(ABC):
    name: str
    layout: LayerLayout
    config_file: str

    @abstractmethod
    def read_config(self, directory: Path) -> dict:
        """The model's config as saved in `directory`."""

    def load(self, directory: Path) -> Model:
        directory = Path(directory)
        if not (directory / WEIGHTS).is_file():
            raise GlyphDistError(f"{directory}: no {WEIGHTS} (a single-file {self.name} model directory is needed)")
        return Model(load_file(str(directory / WEIGHTS)), self.read_config(directory), directory)

    @abstractmethod
    def with_depth(self, config: dict, depth: int) -> dict:
        """`config` for a model of `depth` layers."""

    @abstractmethod
    def save(self, state: StateDict, like: Model, directory: Path) -> Path:
        """Write `state` in the family's format, with `like`'s config (at the state's depth) and tokenizer."""


TIED = {"wte.weight", "lm_head.weight"}


class CognateFamily(Family):
    name = "cognate"
    layout = LayerLayout("blocks.", ("attn.proj.weight", "mlp.down.weight"))
    config_file = "cognate.json"

    def read_config(self, directory: Path) -> dict:
        from glyph_dist.forge.cognate.checkpoint import read_meta
        return read_meta(directory)["model"]

    def with_depth(self, config: dict, depth: int) -> dict:
        return {**config, "n_layers": depth}

    def save(self, state: StateDict, like: Model, directory: Path) -> Path:
        from glyph_dist.forge.cognate.checkpoint import build_model, save_pretrained
        from glyph_dist.forge.cognate.tokenizer import load_tokenizer

        model = build_model(self.with_depth(like.config, self.layout.depth(state)))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if len(missing) > 1 or set(missing) - TIED or unexpected:  # the tied head is stored once, either name
            raise GlyphDistError(f"merged Cognate weights do not fit the config (missing {missing[:3]}, "
                                 f"unexpected {unexpected[:3]})")
        return save_pretrained(model, load_tokenizer(like.directory), Path(directory), specialisation="merge")


class HFFamily(Family):
    name = "hf"
    layout = LayerLayout("model.layers.", ("self_attn.o_proj.weight", "mlp.down_proj.weight"))
    config_file = "config.json"

    def read_config(self, directory: Path) -> dict:
        return json.loads((directory / self.config_file).read_text())

    def with_depth(self, config: dict, depth: int) -> dict:
        if "layer_types" in config:
            raise GlyphDistError("hf family: configs with per-layer types cannot change depth")
        return {**config, "num_hidden_layers": depth}

    def save(self, state: StateDict, like: Model, directory: Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for file in like.directory.iterdir():  # tokenizer, chat template, generation config
            if file.is_file() and (file.name.startswith(("tokenizer", "special_tokens", "chat_template",
                                                         "generation_config", "vocab", "merges"))):
                shutil.copy2(file, directory / file.name)
        config = self.with_depth(like.config, self.layout.depth(state))
        (directory / self.config_file).write_text(json.dumps(config, indent=1) + "\n")
        save_file({k: v.contiguous() for k, v in state.items()}, str(directory / WEIGHTS), metadata={"format": "pt"})
        return directory


FAMILIES: dict[str, Family] = {f.name: f for f in (CognateFamily(), HFFamily())}


def family_of(directory: Path) -> Family:
    """The family whose config file the directory holds."""
    for family in FAMILIES.values():
        if (Path(directory) / family.config_file).is_file():
            return family
    raise GlyphDistError(f"{directory}: neither a Cognate (cognate.json) nor a Hugging Face (config.json) model")


def resolve_model_dir(spec: str | Path) -> Path:
    """A model directory from a path (a model directory, a run directory whose eval.json names its final
    checkpoint, or a run directory holding checkpoint_* directories: the latest) or a catalog name."""
    path = Path(spec).expanduser()
    if not path.exists():
        from glyph_dist.models.catalog import resolve_model
        return resolve_model(str(spec))
    if (path / "eval.json").is_file():
        return Path(json.loads((path / "eval.json").read_text())["checkpoint"])
    if not (path / WEIGHTS).is_file():
        checkpoints = sorted(p for p in path.glob("checkpoint_*") if p.is_dir())
        if checkpoints:
            return checkpoints[-1]
    return path
