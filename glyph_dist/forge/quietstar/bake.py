"""`glyph-dist forge quietstar bake CONFIG`: the thought tokens baked in by supervised fine-tuning.

Under STORAGE_PATH/NAME:

    data/train.jsonl val.jsonl   the strategy-tagged GSM8K pairs (data.py)
    thought_model/               the source model with the 12 tokens added (tokens.py)
    bake/checkpoint_*/           the SFT job's run (train/job.py) on those pairs from thought_model
    bake.json                    the held-out token accuracy, against the threshold, and the checkpoint

Token accuracy: on the held-out pairs, the share of target tokens (and the closing eos) that the
model's argmax predicts from the tokens before them (labels shifted by one, padding and prompt
excluded: the SFT job's own batches and positions).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from glyph_dist.fgt.store import load_tokenizer
from glyph_dist.forge.hfsize import preflight
from glyph_dist.forge.quietstar.config import QuietStarConfig
from glyph_dist.forge.quietstar.data import write_thought_data
from glyph_dist.forge.quietstar.tokens import prepare_thought_model
from glyph_dist.forge.tiny import tiny_llama_dir
from glyph_dist.train.config import config_from_dict as sft_config_from_dict
from glyph_dist.models.pairs import read_pairs, tokenize_pairs
from glyph_dist.train.data import Collator
from glyph_dist.train.job import train_sft
from glyph_dist.train.model import pad_id

BAKE_FILE = "bake.json"


def source_dir(config: QuietStarConfig) -> Path:
    if config.model:
        return Path(config.model)
    return tiny_llama_dir(config.tokenizer, config.llama, config.seed, config.run_dir / "init")


@torch.no_grad()
def token_accuracy(model, tokenizer, pairs_file: Path, max_length: int, batch_size: int = 8) -> dict:
    """The held-out token accuracy of `model` on a pairs file (see the module's docstring)."""
    model.eval()
    data = tokenize_pairs(read_pairs(pairs_file, {}), tokenizer, max_length)
    collate = Collator(pad_id(tokenizer))
    correct = total = 0
    for start in range(0, len(data), batch_size):
        batch = collate([data[i] for i in range(start, min(start + batch_size, len(data)))])
        logits = model(input_ids=batch.input_ids, use_cache=False).logits.flatten(0, 1)[batch.positions]
        correct += int((logits.argmax(-1) == batch.targets).sum())
        total += len(batch.targets)
    return {"token_accuracy": correct / total, "scored_tokens": total, "heldout_pairs": len(data)}


def bake(config: QuietStarConfig, quiet: bool = False) -> dict:
    root = config.run_dir
    data = root / "data"
    counts = write_thought_data(Path(config.datasets), data, config.limit)
    model_dir = root / "thought_model"
    if not (model_dir / "config.json").is_file():
        prepare_thought_model(source_dir(config), model_dir)
    sft = sft_config_from_dict({"max_length": 384, "num_workers": config.num_workers,
                                "cpus_per_worker": config.cpus_per_worker, "seed": config.seed, **config.sft,
                                "name": "bake", "storage_path": str(root), "model": str(model_dir),
                                "train_file": str(data / "train.jsonl"), "val_file": str(data / "val.jsonl")},
                               "config sft")
    preflight(AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True),
              sft.micro_batch_size * sft.max_length, sft.keep_checkpoints, root, "baking")
    result = train_sft(sft, quiet)
    model = AutoModelForCausalLM.from_pretrained(result.checkpoint, local_files_only=True, dtype=torch.float32)
    accuracy = token_accuracy(model, load_tokenizer(result.checkpoint), data / "val.jsonl", sft.max_length)
    summary = {"pairs": counts, **accuracy, "threshold": config.accuracy_threshold,
               "converged": accuracy["token_accuracy"] >= config.accuracy_threshold,
               "steps": sft.max_steps, "final_eval_loss": result.metrics.get("eval_loss"),
               "checkpoint": str(result.checkpoint)}
    (root / BAKE_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    return summary
