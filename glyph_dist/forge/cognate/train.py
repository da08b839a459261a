"""The pretraining loop, in plain PyTorch: the Ray Train job (pretrain.py) runs it in every worker,
and `train_local` runs it in this process (a machine without Ray, a debugger).

A step draws `grad_accum` micro batches of the current curriculum stage (windows chosen by a
generator seeded with the seed, step and rank, so a resumed run draws what it would have drawn),
runs the supervised outer steps of each (trm.py), backpropagating each step's loss
`(LM cross-entropy + act_weight * halting BCE) / (outer_steps * grad_accum)` as soon as it is
computed (the states are detached between steps, so only one step's graph is held), averages the
gradients over the workers, clips them and steps Muon/AdamW behind the Grokfast filter. On a GPU
the forward runs under bfloat16 autocast; the weights and optimiser stay in fp32.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from glyph_dist.forge.cognate.act import halting_loss
from glyph_dist.forge.cognate.checkpoint import (build_model, restore_checkpoint, save_checkpoint,
                                                 save_pretrained)
from glyph_dist.forge.cognate.config import PretrainConfig
from glyph_dist.forge.cognate.data import Streams, build_streams, gsm8k_problems, load_texts, parse_curriculum
from glyph_dist.forge.cognate.evaluate import EvalSettings, evaluate, heldout_metrics
from glyph_dist.forge.cognate.model import Cognate, CognateConfig, autocast
from glyph_dist.forge.cognate.optim import MuonAdamW, lr_factor
from glyph_dist.forge.cognate.sizes import batch_layout, model_size, preflight
from glyph_dist.forge.cognate.specialisations import specialise
from glyph_dist.forge.cognate.tokenizer import build_tokenizer, load_tokenizer
from glyph_dist.forge.cognate.trm import supervision_steps

logger = logging.getLogger(__name__)
TOKENIZER_DIR = "tokenizer"


@dataclass
class Prepared:
    """What every specialisation's training shares: the tokenizer, token streams and GSM8K problems."""
    tokenizer: object
    streams: Streams
    problems: list


def prepare(config: PretrainConfig, run_root: Path) -> Prepared:
    """Read the sources, build (or reload) the tokenizer under RUN_ROOT/tokenizer, tokenize."""
    stages = parse_curriculum(config.curriculum)
    texts = load_texts(stages, Path(config.datasets), config.heldout_sources)
    tokenizer_dir = run_root / TOKENIZER_DIR
    if (tokenizer_dir / "tokenizer.json").is_file():
        tokenizer = load_tokenizer(tokenizer_dir)  # a resumed run keeps its vocabulary
    else:
        tokenizer = build_tokenizer(config.tokenizer, (t for s in texts.values() for t in s.train), config.bpe_vocab)
        tokenizer.save_pretrained(tokenizer_dir)
    streams = build_streams(texts, tokenizer, stages)
    streams.heldout = {k: v for k, v in streams.heldout.items() if k in config.heldout_sources}
    streams.check(config.seq_len)
    problems = gsm8k_problems(Path(config.datasets)) if "gsm8k" in config.heldout_sources else []
    return Prepared(tokenizer, streams, problems)


def model_config(config: PretrainConfig, specialisation: str, tokenizer) -> CognateConfig:
    return specialise(config.base_model(len(tokenizer)), specialisation)


def layout(config: PretrainConfig, model: Cognate) -> tuple[int, int]:
    """(micro batch size, accumulation): the config's, else the size category's."""
    micro, accum = batch_layout(model_size(model))
    return config.micro_batch_size or micro, config.grad_accum or accum


def average_gradients(model: Cognate) -> None:
    """Mean of every gradient over the workers, in one all-reduce of a flat buffer."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    flat = torch.cat([g.flatten() for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    for g, part in zip(grads, flat.split([g.numel() for g in grads])):
        g.copy_(part.view_as(g))


def train_step(model: Cognate, optimizer: MuonAdamW, batches: list[tuple[torch.Tensor, torch.Tensor]],
               act_weight: float, grad_clip: float, device: torch.device) -> dict:
    """One optimiser step over the micro batches; returns the step's losses and halting accuracy."""
    optimizer.zero_grad()
    steps = model.config.outer_steps
    lm_first = lm_last = act_mean = correct = 0.0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        with autocast(device):
            enc = model.encode(x)
            for s, (answer, _, _) in enumerate(supervision_steps(model, enc)):
                logits, halt = model.readout(answer)
                lm = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
                act = halting_loss(halt, logits, y)
                ((lm + act_weight * act) / (steps * len(batches))).backward(retain_graph=s < steps - 1)
                lm_first += lm.item() / len(batches) if s == 0 else 0.0
                act_mean += act.item() / (steps * len(batches))
                if s == steps - 1:
                    lm_last += lm.item() / len(batches)
                    correct += ((torch.sigmoid(halt) >= 0.5) == (logits.argmax(-1) == y)).float().mean().item() / len(batches)
    average_gradients(model)
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return {"loss": lm_last, "loss_first_step": lm_first, "halting_loss": act_mean, "halting_accuracy": correct}


def fit(model: Cognate, optimizer: MuonAdamW, streams: Streams, config: PretrainConfig, device: torch.device,
        step: int, history: list[dict], rank: int, on_step: Callable[[int, dict], None]) -> list[dict]:
    """Train from `step` to config.max_steps; `on_step(step, row)` sees every step's metrics."""
    micro, accum = layout(config, model)
    optim_config = config.optim_config
    quick = EvalSettings(seq_len=config.seq_len, batch_size=micro, heldout_tokens=config.eval_tokens)
    while step < config.max_steps:
        started = time.perf_counter()
        stage = streams.stage_at(step, config.max_steps)
        generator = torch.Generator().manual_seed(config.seed * 1_000_003 + step * 1009 + rank)
        batches = [streams.batch(stage, config.seq_len, micro, generator) for _ in range(accum)]
        factor = lr_factor(step, config.max_steps, optim_config)
        optimizer.set_lr_factor(factor)
        row = train_step(model, optimizer, batches, config.act_weight, config.grad_clip, device)
        step += 1
        row = {"step": step, "stage": stage.name, **row, "lr_factor": factor,
               "train_tokens_per_s": micro * accum * config.seq_len / (time.perf_counter() - started)}
        if step % config.eval_every == 0 or step == config.max_steps:
            quick_metrics = heldout_metrics(model, streams.heldout, quick, device)
            row.update({f"eval_{k}": v for k, v in quick_metrics.items() if k != "perplexity_by_source"})
        history.append(row)
        if rank == 0 and (step % config.log_every == 0 or "eval_perplexity" in row):
            logger.info(f"step {step}/{config.max_steps} ({stage.name}): " + " ".join(
                f"{k} {v:.4g}" for k, v in row.items() if isinstance(v, float)))
        on_step(step, row)
    return history


def setup(config: PretrainConfig, specialisation: str, tokenizer, device: torch.device,
          run_dir: Path) -> tuple[Cognate, MuonAdamW]:
    """The seeded model on `device` (the same initial weights on every worker), its optimiser, and the
    pre-flight check of memory and disk."""
    model = build_model(model_config(config, specialisation, tokenizer), seed=config.seed).to(device)
    micro, _ = layout(config, model)
    preflight(model, micro, config.seq_len, run_dir, config.keep_checkpoints, device)
    return model, MuonAdamW(model, config.optim_config)


def final_metrics(model: Cognate, prepared: Prepared, config: PretrainConfig, device: torch.device) -> dict:
    size = model_size(model)
    metrics = evaluate(model, prepared.tokenizer, prepared.streams.heldout, prepared.problems,
                       config.eval_settings, device)
    return {"parameters": size.non_embedding, "embedding_parameters": size.embedding, "category": size.category,
            **metrics}


def latest_checkpoint(run_dir: Path) -> Path | None:
    found = sorted(run_dir.glob("checkpoint_*"))
    return found[-1] if found else None


def train_local(config: PretrainConfig, specialisation: str, prepared: Prepared, run_dir: Path,
                device: torch.device) -> dict:
    """Train one specialisation in this process, with checkpoints under RUN_DIR (a rerun resumes from
    the latest), then save RUN_DIR/model and evaluate it; returns the final metrics."""
    model, optimizer = setup(config, specialisation, prepared.tokenizer, device, run_dir)
    step, history = 0, []
    latest = latest_checkpoint(run_dir)
    if latest is not None:
        state = restore_checkpoint(model, optimizer, latest)
        step, history = state["step"], state["history"]

    def on_step(step: int, row: dict) -> None:
        if step % config.checkpoint_every == 0 or step == config.max_steps:
            save_checkpoint(model, prepared.tokenizer, optimizer, {"step": step, "workers": 1, "history": history},
                            run_dir / f"checkpoint_{step:06d}", specialisation)
            for old in sorted(run_dir.glob("checkpoint_*"))[:-config.keep_checkpoints]:
                shutil.rmtree(old)

    fit(model, optimizer, prepared.streams, config, device, step, history, 0, on_step)
    save_pretrained(model, prepared.tokenizer, run_dir / "model", specialisation)
    return {"specialisation": specialisation, "model": vars(model.config), "history": history,
            **final_metrics(model, prepared, config, device)}
