"""`glyph-dist forge quietstar train CONFIG`: the Quiet-STaR step (step.py) on Ray Train, from the baked model,
gated by the anti-theater checks (checks.py).

Training text is GSM8K's train split (question and worked answer as forge/cognate/data.py renders them,
in the baked tokenizer) less the slice the baking holds out (data.py); the checks score fixed windows
of that held-out slice, so GSM8K's test split stays for evaluation alone. Every
`check_every` steps (and at the last) the checks run: when all pass, the state is the new last
passing one and a checkpoint is written; when one fails, the model, mixing head and optimiser go
back to the last passing state (the baked start when none has passed yet), the run counts a
roll-back and samples on with new seeds; after `max_rollbacks` roll-backs it stops. The run's
final checkpoint is always the last passing state. Gradients are averaged over the workers by one
all-reduce a step; DeepSpeed is not used (two models and a head on a few CPU cores fit plainly).

    STORAGE_PATH/NAME/rl/checkpoint_*/  model directory + head.pt, optimizer.pt, train_state.json
    STORAGE_PATH/NAME/rl.json           the history with every check, the roll-backs, the final checkpoint
"""

from __future__ import annotations

import copy
import dataclasses
import json
import tempfile
import time
from pathlib import Path

import ray.train
import torch
from torch import nn
from transformers import AutoModelForCausalLM
from transformers.utils import logging as hf_logging

from glyph_dist.errors import GlyphDistError
from glyph_dist.fgt.store import load_tokenizer
from glyph_dist.data.corpus import is_heldout
from glyph_dist.emergence.unify import read_gsm8k
from glyph_dist.forge.cognate.data import gsm8k_text, tokenize
from glyph_dist.forge.cognate.train import average_gradients
from glyph_dist.forge.quietstar.bake import BAKE_FILE
from glyph_dist.forge.quietstar.checks import run_checks
from glyph_dist.forge.quietstar.config import QuietStarConfig, RLConfig
from glyph_dist.forge.quietstar.data import SPLIT_SEED, VAL_SHARE
from glyph_dist.forge.quietstar.step import MixingHead, losses, sample_thoughts
from glyph_dist.forge.quietstar.tokens import THINK_CLOSE, THINK_OPEN, thought_token_ids
from glyph_dist.forge.hfsize import preflight
from glyph_dist.forge.raytrain import fit
from glyph_dist.progress import Steps
from glyph_dist.train.checkpoint import STATE_FILE

HEAD_FILE, OPTIMIZER_FILE, RL_FILE = "head.pt", "optimizer.pt", "rl.json"


def baked_checkpoint(config: QuietStarConfig) -> Path:
    path = config.run_dir / BAKE_FILE
    if not path.is_file():
        raise GlyphDistError(f"{config.run_dir}: no {BAKE_FILE}; run `glyph-dist forge quietstar bake` first")
    return Path(json.loads(path.read_text())["checkpoint"])


def load_lm(directory: Path) -> nn.Module:
    return AutoModelForCausalLM.from_pretrained(directory, local_files_only=True, dtype=torch.float32)


def load_rl_model(directory: Path) -> tuple[nn.Module, MixingHead]:
    """A checkpoint of this job: the language model and its mixing head."""
    model = load_lm(directory)
    head = MixingHead(model.config.hidden_size)
    head.load_state_dict(torch.load(Path(directory) / HEAD_FILE))
    return model, head


def gsm8k_streams(datasets: Path, tokenizer) -> dict[str, torch.Tensor]:
    """Token streams of GSM8K's train split: {"train": ..., "val": the slice the baking holds out}."""
    problems = [p for p in read_gsm8k(datasets / "gsm8k") if p["split"] == "train"]
    held = [is_heldout(p["id"], VAL_SHARE, SPLIT_SEED) for p in problems]
    return {"train": tokenize([gsm8k_text(p) for p, h in zip(problems, held) if not h], tokenizer),
            "val": tokenize([gsm8k_text(p) for p, h in zip(problems, held) if h], tokenizer)}


def windows(stream: torch.Tensor, rl: RLConfig, count: int,
            generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` random (context, true continuation) pairs of the stream."""
    starts = torch.randint(len(stream) - rl.window - rl.ahead, (count,), generator=generator)
    rows = torch.stack([stream[s:s + rl.window + rl.ahead].long() for s in starts.tolist()])
    return rows[:, :rl.window], rows[:, rl.window:]


def _snapshot(model, head, optimizer) -> dict:
    return copy.deepcopy({"model": model.state_dict(), "head": head.state_dict(), "optimizer": optimizer.state_dict()})


def _restore(snapshot: dict, model, head, optimizer) -> None:
    model.load_state_dict(snapshot["model"])
    head.load_state_dict(snapshot["head"])
    optimizer.load_state_dict(snapshot["optimizer"])


def _save(model, head, optimizer, tokenizer, state: dict, directory: Path) -> Path:
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    torch.save(head.state_dict(), directory / HEAD_FILE)
    torch.save(optimizer.state_dict(), directory / OPTIMIZER_FILE)
    (directory / STATE_FILE).write_text(json.dumps(state))
    return directory


def train_loop_per_worker(cfg: dict) -> dict | None:
    config: QuietStarConfig = cfg["config"]
    rl = config.rl_config
    tokenizer, streams = cfg["tokenizer"], cfg["streams"]
    context = ray.train.get_context()
    rank = context.get_world_rank()
    hf_logging.disable_progress_bar()
    ids = thought_token_ids(tokenizer)
    ids = {"open": ids[THINK_OPEN], "close": ids[THINK_CLOSE]}
    model, reference = load_lm(cfg["baked"]), load_lm(cfg["baked"]).eval().requires_grad_(False)
    torch.manual_seed(config.seed)
    head = MixingHead(model.config.hidden_size)
    optimizer = torch.optim.AdamW([{"params": model.parameters(), "lr": rl.learning_rate},
                                   {"params": head.parameters(), "lr": rl.head_learning_rate}], weight_decay=0.0)
    step, history, rollbacks, passing_step = 0, [], 0, 0
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            restored, restored_head = load_rl_model(Path(directory))
            model.load_state_dict(restored.state_dict())
            head.load_state_dict(restored_head.state_dict())
            optimizer.load_state_dict(torch.load(Path(directory) / OPTIMIZER_FILE))
            state = json.loads((Path(directory) / STATE_FILE).read_text())
        step, history, rollbacks, passing_step = (state["step"], state["history"], state["rollbacks"],
                                                  state["passing_step"])
    passing = _snapshot(model, head, optimizer)
    check_contexts, check_targets = windows(streams["val"], rl, rl.check_windows, torch.Generator().manual_seed(0))

    def report(row: dict, save: bool) -> None:
        with tempfile.TemporaryDirectory() as directory:
            saved = None
            if save and rank == 0:
                state = {"step": step, "history": history, "rollbacks": rollbacks, "passing_step": passing_step}
                saved = ray.train.Checkpoint.from_directory(
                    _save(model, head, optimizer, tokenizer, state, Path(directory)))
            ray.train.report(row, checkpoint=saved, checkpoint_dir_name=f"checkpoint_{step:06d}" if save else None)

    while step < rl.max_steps:
        started = time.perf_counter()
        seed = config.seed * 1_000_003 + step * 1009 + rollbacks * 7919 + rank
        contexts, targets = windows(streams["train"], rl, rl.batch_size * rl.positions, torch.Generator().manual_seed(seed))
        torch.manual_seed(seed)
        model.eval()  # sampling
        thoughts = sample_thoughts(model, contexts, targets, ids["open"], rl.n_thoughts, rl.thought_length,
                                   rl.temperature)
        model.train()
        terms, scored = losses(model, head, reference, thoughts, ids["open"], ids["close"])
        optimizer.zero_grad()
        (terms["nll"] + rl.policy_weight * terms["reinforce"] + rl.kl_coef * terms["kl"]).backward()
        average_gradients(nn.ModuleList([model, head]))
        if rl.grad_clip:
            torch.nn.utils.clip_grad_norm_([*model.parameters(), *head.parameters()], rl.grad_clip)
        optimizer.step()
        step += 1
        row = {"step": step, **{k: float(v) for k, v in terms.items()}, "mixing_weight": float(scored.weights.mean()),
               "seconds": time.perf_counter() - started}
        if step % rl.check_every and step != rl.max_steps:
            history.append(row)
            ray.train.report(row)
            continue
        torch.manual_seed(config.seed)  # the same check samples on every worker
        checks = run_checks(model, head, reference, None, check_contexts, check_targets, ids, rl)
        row.update({f"check_{c.name}": c.value for c in checks})
        row["checks_passed"] = all(c.passed for c in checks)
        if row["checks_passed"]:
            passing, passing_step = _snapshot(model, head, optimizer), step
        else:
            _restore(passing, model, head, optimizer)
            rollbacks += 1
            row["rolled_back_to"] = passing_step
        history.append(row)
        if rollbacks > rl.max_rollbacks:
            break
        report(row, save=row["checks_passed"] and step != rl.max_steps)
    if passing_step != step:
        _restore(passing, model, head, optimizer)
    final = {"step": step, "final_passing_step": passing_step, "rollbacks": rollbacks}
    report(final, save=True)
    return {"history": history, **final} if rank == 0 else None


def train_quietstar(config: QuietStarConfig, quiet: bool = False) -> dict:
    baked = baked_checkpoint(config)
    steps = Steps(2, quiet)
    with steps.step("read and tokenize GSM8K with the baked tokenizer, pre-flight"):
        tokenizer = load_tokenizer(baked)
        thought_token_ids(tokenizer)
        streams = gsm8k_streams(Path(config.datasets), tokenizer)
        rl = config.rl_config
        tokens = rl.batch_size * rl.positions * rl.n_thoughts * (rl.window + rl.thought_length + 2 + rl.ahead)
        preflight(load_lm(baked), tokens, 2, config.run_dir, "Quiet-STaR", frozen_copies=1)  # and the baked model
    with steps.step(f"Quiet-STaR: {rl.max_steps} steps, {rl.n_thoughts} thoughts x {rl.thought_length} tokens "
                    f"at {rl.batch_size * rl.positions} positions a step, checks every {rl.check_every}"):
        result = fit(train_loop_per_worker,
                     {"config": config, "baked": str(baked), "tokenizer": tokenizer, "streams": streams},
                     config.run_dir / "rl", config.num_workers, config.cpus_per_worker)
    summary = {**result.return_value, "baked": str(baked), "checkpoint": result.checkpoint.path,
               "rl": dataclasses.asdict(rl)}
    (config.run_dir / RL_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    return summary
