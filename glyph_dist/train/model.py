"""The tokenizer and the causal LM to fine-tune (local directories only, or the embedded defaults),
and the loss the job trains it on.

The tape's modules need faiss, which only the driver loads (to read the tape's tokenizer): a
training worker imports none of them.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from transformers import (AutoConfig, AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, PreTrainedModel,
                          PreTrainedTokenizerBase)

from glyph_dist.errors import GlyphDistError
from glyph_dist.train.config import SFTConfig


def load_sft_tokenizer(config: SFTConfig) -> PreTrainedTokenizerBase:
    """The tape's tokenizer with `<GLYPH>`, `</GLYPH>` and the glyph characters; else a local one."""
    if config.tape:
        from glyph_dist.fgt.hybrid import HybridTokenizer
        from glyph_dist.fgt.store import load_tape

        return HybridTokenizer(load_tape(config.tape)).base
    from glyph_dist.fgt.store import load_tokenizer

    return load_tokenizer(config.tokenizer or config.model)


def pad_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id that fills padded positions (never attended to nor scored)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def context_length(config: SFTConfig) -> int | None:
    """The model's context in tokens, read without loading weights; a bad model directory is an error."""
    if not config.model:
        return config.gpt2["n_positions"]
    path = Path(config.model)
    if not (path / "config.json").is_file():
        raise GlyphDistError(f"model {path}: not a Hugging Face model directory (no config.json)")
    try:
        model_config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise GlyphDistError(f"model {path}: cannot read its config ({exc})") from exc
    return getattr(model_config, "max_position_embeddings", None) or getattr(model_config, "n_positions", None)


def build_model(config: SFTConfig, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """The model in float32 with room for every token of the tokenizer (the current torch seed sets
    the initial weights of a model built from `gpt2`)."""
    if config.model:
        model = AutoModelForCausalLM.from_pretrained(config.model, local_files_only=True, dtype=torch.float32)
        if model.get_input_embeddings().num_embeddings < len(tokenizer):
            model.resize_token_embeddings(len(tokenizer))
        return model
    return GPT2LMHeadModel(GPT2Config(**config.gpt2, vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                                      eos_token_id=tokenizer.eos_token_id, pad_token_id=pad_id(tokenizer)))


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups as in nanoGPT: matrices and embeddings decay, biases and norms do not."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]


def last_hidden_state(lm: PreTrainedModel, input_ids: torch.Tensor) -> torch.Tensor:
    """The base model's output. The embeddings go in rather than the ids: Hugging Face then skips
    its check for padding without an attention mask (right padding needs none, and the check
    waits for the device)."""
    return lm.base_model(inputs_embeds=lm.get_input_embeddings()(input_ids), use_cache=False).last_hidden_state


def logits_from_last_hidden_state(lm: PreTrainedModel) -> bool:
    """Whether the model's logits are its output embeddings applied to `last_hidden_state` (GPT-2's
    and Llama's are; those of a model that scales or caps its logits are not), tried on a few tokens."""
    ids = torch.arange(8).remainder(lm.get_input_embeddings().num_embeddings)[None]
    training = lm.training
    lm.eval()
    with torch.no_grad():
        full = lm(input_ids=ids, use_cache=False).logits
        head = lm.get_output_embeddings()(last_hidden_state(lm, ids))
    lm.train(training)
    return full.shape == head.shape and torch.allclose(full, head, rtol=1e-4, atol=1e-5)


class TargetLoss(torch.nn.Module):
    """The summed cross-entropy (in fp32) of a batch's target tokens under the causal LM `lm`.

    Logits are computed only where a target token follows (`positions`, flat indices into
    `input_ids`): the prompt tokens need none. The batches are right-padded, so no attention mask
    is passed: a causal model's real tokens never attend to the padding after them, and SDPA runs
    its causal kernel.
    """

    def __init__(self, lm: PreTrainedModel):
        super().__init__()
        self.lm = lm
        self.head_on_targets_only = logits_from_last_hidden_state(lm)

    def forward(self, input_ids: torch.Tensor, positions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.head_on_targets_only:
            hidden = last_hidden_state(self.lm, input_ids).flatten(0, 1)[positions]
            logits = self.lm.get_output_embeddings()(hidden)
        else:
            logits = self.lm(input_ids=input_ids, use_cache=False).logits.flatten(0, 1)[positions]
        return F.cross_entropy(logits.float(), targets, reduction="sum")
