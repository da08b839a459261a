"""`glyph-dist forge bitnet train CONFIG.yaml [key=value ...]`: BitNet b1.58 quantisation-aware
fine-tuning on Ray Train.

The driver resolves the source model (a catalog name or directory; or a tiny Llama it builds and
saves under STORAGE_PATH/NAME/init), runs the pre-flight check, reads and tokenizes the sources
with the model's tokenizer, and starts a `TorchTrainer`. Every worker loads the source, converts
the policy's linear layers to BitLinear (convert.py), and trains with AdamW on next-token
cross-entropy over random windows (forge/cognate/data.py's streams, seeded by seed, step and rank),
λ ramping from 0 to 1 over `lambda_ramp_steps`; gradients are averaged over the workers by one
all-reduce a step. DeepSpeed is not used: at these sizes plain data parallelism fits, and the
latent fp32 weights are what ZeRO would shard.

    STORAGE_PATH/NAME/checkpoint_*/   a BitNet model directory (load_bitnet) with the training state
    STORAGE_PATH/NAME/eval.json       held-out perplexity of the source and of the final model, history

Started again with the same name, a run continues from its latest checkpoint.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import ray.train
import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.store import load_tokenizer
from glyph_dist.forge.bitnet.config import QATConfig
from glyph_dist.forge.bitnet.convert import lambda_at, set_lambda, ternary_targets, to_bitnet
from glyph_dist.forge.bitnet.evaluate import heldout
from glyph_dist.forge.cognate.data import Streams, build_streams, load_texts, parse_curriculum
from glyph_dist.forge.cognate.train import average_gradients
from glyph_dist.forge.hfsize import preflight
from glyph_dist.forge.raytrain import fit
from glyph_dist.forge.tiny import tiny_llama_dir
from glyph_dist.progress import Steps
from glyph_dist.train.checkpoint import STATE_FILE

META_FILE, OPTIMIZER_FILE, EVAL_FILE = "bitnet.json", "optimizer.pt", "eval.json"


@dataclass
class Prepared:
    source: str  # the full-precision model directory every worker starts from
    tokenizer: object
    streams: Streams


def load_bitnet(directory: Path) -> nn.Module:
    """A model directory written by this job: the Hugging Face model with its BitLinear layers."""
    path = Path(directory) / META_FILE
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GlyphDistError(f"{directory}: not a BitNet QAT model (no readable {META_FILE})") from exc
    model = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, dtype=torch.float32)
    return to_bitnet(model, meta["ternary"], meta["input_norm"]) if meta["ternary"] else model


def source_model(config: QATConfig, run_dir: Path) -> str:
    """The source directory: the config's model, or a seeded tiny Llama saved under RUN_DIR/init."""
    return config.model or str(tiny_llama_dir(config.tokenizer, config.llama, config.seed, run_dir / "init"))


def prepare(config: QATConfig, run_dir: Path) -> Prepared:
    source = source_model(config, run_dir)
    tokenizer = load_tokenizer(source)
    stages = parse_curriculum([{"name": "qat", "share": 1.0, "sources": config.sources}])
    streams = build_streams(load_texts(stages, Path(config.datasets), config.heldout_sources), tokenizer, stages)
    streams.heldout = {k: v for k, v in streams.heldout.items() if k in config.heldout_sources}
    streams.check(config.seq_len)
    return Prepared(source, tokenizer, streams)


def load_source(source: str) -> nn.Module:
    return AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype=torch.float32)


def build(config: QATConfig, source: str) -> tuple[nn.Module, list[str]]:
    """The source model with the policy's layers converted (none when quantize is off)."""
    model = load_source(source)
    targets = ternary_targets(model, config.keep) if config.quantize else []
    return to_bitnet(model, targets, config.input_norm), targets


def lr_at(step: int, config: QATConfig) -> float:
    """Linear warmup, then cosine decay to a tenth (nanoGPT)."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / (config.warmup_steps + 1)
    ratio = (step - config.warmup_steps) / max(config.max_steps - config.warmup_steps, 1)
    return config.learning_rate * (0.1 + 0.45 * (1 + math.cos(math.pi * min(ratio, 1.0))))


def save(model: nn.Module, tokenizer, optimizer, targets: list[str], config: QATConfig, state: dict,
         directory: Path) -> Path:
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    meta = {"ternary": targets, "input_norm": config.input_norm,
            "lambda": lambda_at(state["step"], config.lambda_ramp_steps) if targets else 0.0}
    (directory / META_FILE).write_text(json.dumps(meta) + "\n")
    torch.save(optimizer.state_dict(), directory / OPTIMIZER_FILE)
    (directory / STATE_FILE).write_text(json.dumps(state))
    return directory


def train_step(model: nn.Module, optimizer, batches, grad_clip: float) -> float:
    optimizer.zero_grad()
    total = 0.0
    for x, y in batches:
        loss = F.cross_entropy(model(input_ids=x, use_cache=False).logits.flatten(0, 1).float(), y.flatten())
        (loss / len(batches)).backward()
        total += loss.item() / len(batches)
    average_gradients(model)
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return total


def train_loop_per_worker(cfg: dict) -> dict | None:
    config: QATConfig = cfg["config"]
    prepared: Prepared = cfg["prepared"]
    context = ray.train.get_context()
    rank = context.get_world_rank()
    hf_logging.disable_progress_bar()
    torch.manual_seed(config.seed)
    model, targets = build(config, prepared.source)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    step, history = 0, []
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            restored = load_bitnet(Path(directory))
            model.load_state_dict(restored.state_dict())
            optimizer.load_state_dict(torch.load(Path(directory) / OPTIMIZER_FILE))
            state = json.loads((Path(directory) / STATE_FILE).read_text())
        step, history = state["step"], state["history"]
    stage = prepared.streams.stages[0]
    while step < config.max_steps:
        started = time.perf_counter()
        lam = lambda_at(step, config.lambda_ramp_steps) if config.quantize else 0.0
        set_lambda(model, lam)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step * 1009 + rank)
        batches = [prepared.streams.batch(stage, config.seq_len, config.micro_batch_size, generator)
                   for _ in range(config.grad_accum)]
        loss = train_step(model, optimizer, batches, config.grad_clip)
        step += 1
        row = {"step": step, "loss": loss, "lambda": lam, "lr": optimizer.param_groups[0]["lr"],
               "seconds": time.perf_counter() - started}
        history.append(row)
        if step % config.checkpoint_every == 0 or step == config.max_steps:
            with tempfile.TemporaryDirectory() as directory:
                saved = None
                if rank == 0:
                    state = {"step": step, "workers": context.get_world_size(), "history": history}
                    saved = ray.train.Checkpoint.from_directory(
                        save(model, prepared.tokenizer, optimizer, targets, config, state, Path(directory)))
                ray.train.report(row, checkpoint=saved, checkpoint_dir_name=f"checkpoint_{step:06d}")
        elif step % config.log_every == 0:
            ray.train.report(row)
    if rank != 0:
        return None
    set_lambda(model, 1.0)
    streams, seq_len, tokens = prepared.streams.heldout, config.seq_len, config.eval_tokens
    return {"history": history, "ternary_layers": len(targets), "final": heldout(model, streams, seq_len, tokens),
            "source": heldout(load_source(prepared.source), streams, seq_len, tokens)}


def train_bitnet(config: QATConfig, quiet: bool = False) -> dict:
    """Run the job; returns eval.json's content (the final metrics, the checkpoint, the history)."""
    run_dir = Path(config.storage_path) / config.name
    steps = Steps(2, quiet)
    with steps.step("resolve the source model, pre-flight, read and tokenize the sources"):
        prepared = prepare(config, run_dir)
        preflight(load_source(prepared.source), config.micro_batch_size * config.seq_len, config.keep_checkpoints,
                  run_dir, "QAT")
    with steps.step(f"QAT: {config.max_steps} steps, λ ramp {config.lambda_ramp_steps}, "
                    f"{config.num_workers} worker(s)"):
        result = fit(train_loop_per_worker, {"config": config, "prepared": prepared}, run_dir, config.num_workers,
                     config.cpus_per_worker, config.use_gpu, config.keep_checkpoints, config.max_failures)
    metrics = {"name": config.name, "source_model": prepared.source, "quantize": config.quantize,
               "checkpoint": result.checkpoint.path, **result.return_value}
    (run_dir / EVAL_FILE).write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics
