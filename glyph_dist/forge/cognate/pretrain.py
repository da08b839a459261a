"""`glyph-dist forge pretrain CONFIG.yaml [key=value ...]`: the Cognate specialisations on Ray Train.

The driver reads the curriculum's sources, trains (or, for a resumed run, reloads) the tokenizer
into STORAGE_PATH/NAME/tokenizer, tokenizes once, and runs one `TorchTrainer` per specialisation,
named NAME-SPECIALISATION. Its workers run train.fit (plain PyTorch; gradients averaged over the
workers by one all-reduce a step), rank 0 writes a checkpoint every `checkpoint_every` steps (a
model directory that load_pretrained reads, with the optimiser states and history), and rank 0
evaluates the final model. Started again with the same name and storage, a run continues from its
latest checkpoint (Ray Train restores the run; `ray.train.get_checkpoint()` returns it) and a
finished specialisation is not trained again.

DeepSpeed is not used: Muon orthogonalises whole weight matrices, and ZeRO partitions the
optimiser's states into flat shards across workers; at these sizes plain data parallelism fits.

STORAGE_PATH/NAME/summary.json gathers every specialisation's final metrics and their diversity.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import ray.train
from ray.train.torch import TorchTrainer

from glyph_dist.forge.cognate.checkpoint import restore_checkpoint, save_checkpoint
from glyph_dist.forge.cognate.config import PretrainConfig
from glyph_dist.forge.cognate.diversity import diversity
from glyph_dist.forge.cognate.train import Prepared, final_metrics, fit, prepare, setup
from glyph_dist.progress import Steps
from glyph_dist.train.job import fit_reraising_bad_input

EVAL_FILE, SUMMARY_FILE = "eval.json", "summary.json"


def train_loop_per_worker(cfg: dict) -> dict | None:
    config: PretrainConfig = cfg["config"]
    prepared: Prepared = cfg["prepared"]
    specialisation: str = cfg["specialisation"]
    context = ray.train.get_context()
    rank = context.get_world_rank()
    device = ray.train.torch.get_device()
    model, optimizer = setup(config, specialisation, prepared.tokenizer, device, Path(cfg["run_dir"]))
    step, history = 0, []
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            state = restore_checkpoint(model, optimizer, Path(directory))
        step, history = state["step"], state["history"]

    def on_step(step: int, row: dict) -> None:
        metrics = {k: v for k, v in row.items() if isinstance(v, (int, float))}
        if step % config.checkpoint_every and step != config.max_steps:
            if step % config.log_every == 0:
                ray.train.report(metrics)
            return
        with tempfile.TemporaryDirectory() as directory:
            saved = None
            if rank == 0:
                state = {"step": step, "workers": context.get_world_size(), "history": history}
                saved = ray.train.Checkpoint.from_directory(
                    save_checkpoint(model, prepared.tokenizer, optimizer, state, Path(directory), specialisation))
            ray.train.report(metrics, checkpoint=saved, checkpoint_dir_name=f"checkpoint_{step:06d}")

    fit(model, optimizer, prepared.streams, config, device, step, history, rank, on_step)
    if rank == 0:
        return {"specialisation": specialisation, "history": history, **final_metrics(model, prepared, config, device)}
    return None


def _fit(config: PretrainConfig, prepared: Prepared, specialisation: str, run_dir: Path) -> ray.train.Result:
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"config": config, "prepared": prepared, "specialisation": specialisation,
                           "run_dir": str(run_dir)},
        scaling_config=ray.train.ScalingConfig(num_workers=config.num_workers, use_gpu=config.use_gpu,
                                               resources_per_worker={"CPU": config.cpus_per_worker}),
        run_config=ray.train.RunConfig(
            name=run_dir.name, storage_path=str(run_dir.parent),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=config.keep_checkpoints),
            failure_config=ray.train.FailureConfig(max_failures=config.max_failures),
            logging_config=ray.train.LoggingConfig(log_level="WARNING")))
    return fit_reraising_bad_input(trainer)


def pretrain(config: PretrainConfig, quiet: bool = False) -> dict:
    """Train and evaluate every specialisation of `config`; returns the summary (also in summary.json)."""
    root = Path(config.storage_path) / config.name
    steps = Steps(1 + len(config.specialisations), quiet)
    with steps.step("read the curriculum's sources, build the tokenizer, tokenize"):
        prepared = prepare(config, root)
    results = {}
    for specialisation in config.specialisations:
        run_dir = root / specialisation
        evaluated = run_dir / EVAL_FILE
        with steps.step(f"train {specialisation}: {config.max_steps} steps, {config.num_workers} worker(s)"):
            if evaluated.is_file():  # finished by an earlier call
                results[specialisation] = json.loads(evaluated.read_text())
                continue
            result = _fit(config, prepared, specialisation, run_dir)
            metrics = {**result.return_value, "checkpoint": result.checkpoint.path}
            evaluated.write_text(json.dumps(metrics, indent=1) + "\n")
            results[specialisation] = metrics
    summary = {"name": config.name, "tokenizer": str(root / "tokenizer"),
               "models": {name: {k: v for k, v in m.items() if k not in ("history", "gsm8k_examples")}
                          for name, m in results.items()}}
    if len(results) > 1:
        summary["diversity"] = diversity(results)
    (root / SUMMARY_FILE).write_text(json.dumps(summary, indent=1) + "\n")
    return summary
