"""The loop every Ray Train worker runs: DeepSpeed, the masked loss, evaluation, metrics, checkpoints.

The loss of a step is token-weighted over its whole global batch: the sum of the target tokens'
cross-entropies over every micro batch of every worker, divided by their number. It therefore
does not depend on how the global batch is split into micro batches and workers, and one worker
with accumulation follows the same trajectory as several without.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from pathlib import Path

import ray.train
import torch
import torch.distributed as dist
import torch.nn.functional as F
from transformers.utils import logging as hf_logging

from glyph_dist.train.checkpoint import restore, save
from glyph_dist.train.config import SFTConfig
from glyph_dist.train.data import IGNORE, eval_batches, step_batches, steps_per_epoch
from glyph_dist.train.model import build_model, pad_id, param_groups
from glyph_dist.train.zero import ds_config

logger = logging.getLogger(__name__)


def lr_at(step: int, config: SFTConfig) -> float:
    """The learning rate of step `step` (0-based): linear warmup, then cosine decay to min_lr (nanoGPT)."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / (config.warmup_steps + 1)
    if step >= config.decay_steps:
        return config.min_lr
    ratio = (step - config.warmup_steps) / (config.decay_steps - config.warmup_steps)
    return config.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (config.learning_rate - config.min_lr)


def masked_loss_sum(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The summed cross-entropy (in fp32) of the batch's scored tokens, each predicted from the ones before."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), batch["labels"][:, 1:].flatten(),
                           ignore_index=IGNORE, reduction="sum")


def scored_tokens(batch: dict[str, torch.Tensor]) -> int:
    return int((batch["labels"][:, 1:] != IGNORE).sum())


def all_sum(value: float, device: torch.device) -> float:
    """The sum of `value` over the workers (float64, so token counts stay exact)."""
    total = torch.tensor(value, dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return total.item()


@torch.no_grad()
def evaluate(engine, batches, device: torch.device) -> float:
    """The mean masked loss over the whole split (every worker scores its share)."""
    engine.eval()
    loss, tokens = 0.0, 0
    for batch in batches:
        loss += masked_loss_sum(engine, {k: v.to(device) for k, v in batch.items()}).item()
        tokens += scored_tokens(batch)
    engine.train()
    return all_sum(loss, device) / all_sum(tokens, device)


def train_loop_per_worker(cfg: dict) -> list[dict]:
    """Train `cfg["config"]` on the tokenized `cfg["train"]`; returns the metrics of every step."""
    config: SFTConfig = cfg["config"]
    tokenizer, train, val = cfg["tokenizer"], cfg["train"], cfg["val"]
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    os.environ["DS_ACCELERATOR"] = "cuda" if config.use_gpu else "cpu"  # read when deepspeed is imported
    import deepspeed

    hf_logging.disable_progress_bar()  # save_pretrained's, once per checkpoint
    torch.manual_seed(config.seed)  # the same initial weights on every worker
    model = build_model(config, tokenizer)
    engine, *_ = deepspeed.initialize(model=model, model_parameters=param_groups(model, config.weight_decay),
                                      config=ds_config(config))
    device = engine.device

    # Resume: the run's own latest checkpoint (a restarted run), else `resume_from`.
    step, history = 0, []
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is None and config.resume_from:
        checkpoint = ray.train.Checkpoint.from_directory(config.resume_from)
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = restore(engine, Path(directory), config)
        step, history = state["step"], state["history"]
    torch.manual_seed(config.seed + rank)  # dropout differs across workers

    pad = pad_id(tokenizer)
    per_epoch = steps_per_epoch(len(train), world, config.micro_batch_size, config.grad_accum)
    batches = step_batches(train, rank, world, config.micro_batch_size, config.grad_accum, config.seed, pad,
                           start_step=step)
    while step < config.max_steps:
        started = time.perf_counter()
        lr = lr_at(step, config)
        for group in engine.optimizer.param_groups:
            group["lr"] = lr
        micro_batches = next(batches)
        step_tokens = all_sum(sum(scored_tokens(b) for b in micro_batches), device)
        # DeepSpeed divides each micro batch's loss by the accumulation steps and averages the
        # gradients over the workers: scaled back by both, the step's gradient is that of the
        # token-weighted mean over the global batch.
        scale = world * config.grad_accum / step_tokens
        loss_sum, seen = 0.0, 0
        for batch in micro_batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = masked_loss_sum(engine, batch)
            engine.backward(loss * scale)
            engine.step()
            loss_sum += loss.item()
            seen += int(batch["attention_mask"].sum())
        step += 1
        row = {"step": step, "loss": all_sum(loss_sum, device) / step_tokens, "lr": lr, "epoch": step / per_epoch,
               "tokens_per_s": all_sum(seen, device) / (time.perf_counter() - started)}
        if step % config.eval_every == 0 or step == config.max_steps:
            row["eval_loss"] = evaluate(engine, eval_batches(val, rank, world, config.micro_batch_size, pad), device)
        history.append(row)
        if rank == 0 and not cfg["quiet"] and (step % config.log_every == 0 or "eval_loss" in row):
            logger.info(f"step {step}/{config.max_steps}: " + " ".join(
                f"{k} {v:.4g}" for k, v in row.items() if k != "step"))
        if step % config.checkpoint_every == 0 or step == config.max_steps:
            with tempfile.TemporaryDirectory() as directory:
                save(engine, tokenizer, Path(directory),
                     {"step": step, "workers": world, "zero_stage": config.zero_stage, "history": history}, rank)
                ray.train.report(row, checkpoint=ray.train.Checkpoint.from_directory(directory),
                                 checkpoint_dir_name=f"checkpoint_{step:06d}")
        elif step % config.log_every == 0 or "eval_loss" in row:
            ray.train.report(row)
    return history
