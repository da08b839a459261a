"""The loop every Ray Train worker runs: DeepSpeed, the target-token loss, evaluation, metrics, checkpoints.

The loss of a step is token-weighted over its whole global batch: the sum of the target tokens'
cross-entropies over every micro batch of every worker, divided by their number. It therefore
does not depend on how the global batch is split into micro batches and workers, and one worker
with accumulation follows the same trajectory as several without.

A step's token counts come from the data, which every worker holds whole, so a step waits for the
device once (for its loss), and the next step's batches are built while the device works.

What the loop needs of Ray Train (its rank, the world size, the checkpoint to resume from, and where
metrics and checkpoints go) comes in a `WorkerSession`, so that the loop also runs in-process.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import ray.train
import torch
import torch.distributed as dist
from transformers.utils import logging as hf_logging

from glyph_dist.train.checkpoint import restore, save
from glyph_dist.train.config import SFTConfig
from glyph_dist.train.data import Collator, eval_batches, step_batches, steps_per_epoch
from glyph_dist.train.model import TargetLoss, build_model, pad_id
from glyph_dist.train.zero import build_optimizer, ds_config

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSession:
    """The worker's place in the run and the runtime's hooks.

    `resume` is the directory of the checkpoint to continue from (None: start afresh); `report(row,
    checkpoint_dir, name)` hands a step's metrics, and a checkpoint directory with its name or None,
    to the runtime.
    """

    rank: int
    world: int
    resume: Callable[[], ray.train.Checkpoint | None]
    report: Callable[[dict, Path | None, str | None], None]


def _ray_report(row: dict, directory: Path | None, name: str | None) -> None:
    if directory is None:
        ray.train.report(row)
    else:
        ray.train.report(row, checkpoint=ray.train.Checkpoint.from_directory(directory), checkpoint_dir_name=name)


def ray_session() -> WorkerSession:
    """The session of a Ray Train worker."""
    context = ray.train.get_context()
    return WorkerSession(context.get_world_rank(), context.get_world_size(), ray.train.get_checkpoint, _ray_report)


def lr_at(step: int, config: SFTConfig) -> float:
    """The learning rate of step `step` (0-based): linear warmup, then cosine decay to min_lr (nanoGPT)."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / (config.warmup_steps + 1)
    if step >= config.decay_steps:
        return config.min_lr
    ratio = (step - config.warmup_steps) / (config.decay_steps - config.warmup_steps)
    return config.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (config.learning_rate - config.min_lr)


def collator(config: SFTConfig, tokenizer) -> Collator:
    return Collator(pad_id(tokenizer), config.pad_multiple, config.max_length)


def all_sum(value: torch.Tensor | float, device: torch.device) -> float:
    """The sum of `value` over the workers (float64, so token counts stay exact)."""
    total = torch.as_tensor(value, device=device).to(torch.float64)
    dist.all_reduce(total)
    return total.item()


@torch.no_grad()
def evaluate(engine, batches, device: torch.device) -> float:
    """The mean target-token loss over the whole split (every worker scores its share), computed
    eagerly: a compiled graph for a few evaluation batches costs more than it saves."""
    engine.eval()
    loss, tokens = torch.zeros((), device=device), 0
    with torch.compiler.set_stance("force_eager"):
        for batch in batches:
            loss += engine(*batch.to(device))
            tokens += len(batch.targets)
    engine.train()
    return all_sum(loss, device) / all_sum(tokens, device)


def train_loop_per_worker(cfg: dict) -> list[dict]:
    """The loop of a Ray Train worker (see `run_worker`)."""
    return run_worker(cfg, ray_session())


def run_worker(cfg: dict, session: WorkerSession) -> list[dict]:
    """Train `cfg["config"]` on the tokenized `cfg["train"]` as one worker of `session`; returns the
    metrics of every step. torch.distributed must be initialised for `session.world` workers."""
    config: SFTConfig = cfg["config"]
    tokenizer, train, val = cfg["tokenizer"], cfg["train"], cfg["val"]
    rank, world = session.rank, session.world
    os.environ["DS_ACCELERATOR"] = "cuda" if config.use_gpu else "cpu"  # read when deepspeed is imported
    import deepspeed

    hf_logging.disable_progress_bar()  # save_pretrained's, once per checkpoint
    torch.manual_seed(config.seed)  # the same initial weights on every worker
    model = TargetLoss(build_model(config, tokenizer))
    if config.compiled:
        model.compile(dynamic=True)  # one graph for every batch shape
    engine, *_ = deepspeed.initialize(model=model, optimizer=build_optimizer(config, model), config=ds_config(config))
    device = engine.device

    # Resume: the run's own latest checkpoint (a restarted run), else `resume_from`.
    step, history = 0, []
    checkpoint = session.resume()
    if checkpoint is None and config.resume_from:
        checkpoint = ray.train.Checkpoint.from_directory(config.resume_from)
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = restore(engine, Path(directory), config)
        step, history = state["step"], state["history"]
    torch.manual_seed(config.seed + rank)  # dropout differs across workers

    batching = collator(config, tokenizer)
    per_epoch = steps_per_epoch(len(train), world, config.micro_batch_size, config.grad_accum)
    steps = step_batches(train, rank, world, config.micro_batch_size, config.grad_accum, config.seed, batching,
                         start_step=step, window=config.length_window)
    upcoming = next(steps)
    while step < config.max_steps:
        started = time.perf_counter()
        lr = lr_at(step, config)
        for group in engine.optimizer.param_groups:
            group["lr"] = lr
        current = upcoming
        # DeepSpeed divides each micro batch's loss by the accumulation steps and averages the
        # gradients over the workers: scaled back by both, the step's gradient is that of the
        # token-weighted mean over the global batch.
        scale = world * config.grad_accum / max(current.scored, 1)
        loss_sum = torch.zeros((), device=device)
        for batch in current.micro_batches:
            loss = engine(*batch.to(device))
            engine.backward(loss * scale)
            engine.step()
            loss_sum += loss.detach()
        if step + 1 < config.max_steps:
            upcoming = next(steps)  # built while the device still works on this step
        step += 1
        row = {"step": step, "loss": all_sum(loss_sum, device) / max(current.scored, 1), "lr": lr,
               "epoch": step / per_epoch, "tokens_per_s": current.tokens / (time.perf_counter() - started)}
        if step % config.eval_every == 0 or step == config.max_steps:
            row["eval_loss"] = evaluate(engine, eval_batches(val, rank, world, config.micro_batch_size, batching),
                                        device)
        history.append(row)
        if rank == 0 and not cfg["quiet"] and (step % config.log_every == 0 or "eval_loss" in row):
            logger.info(f"step {step}/{config.max_steps}: " + " ".join(
                f"{k} {v:.4g}" for k, v in row.items() if k != "step"))
        if step % config.checkpoint_every == 0 or step == config.max_steps:
            with tempfile.TemporaryDirectory() as directory:
                save(engine, tokenizer, Path(directory),
                     {"step": step, "workers": world, "zero_stage": config.zero_stage, "history": history}, rank)
                session.report(row, Path(directory), f"checkpoint_{step:06d}")
        elif step % config.log_every == 0 or "eval_loss" in row:
            session.report(row, None, None)
    return history
