"""A Ray Train run of a forge job: a `TorchTrainer` over the worker loop, its settings in Ray's own config
objects, a worker's bad-input error raised as itself (train/job.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ray.train
from ray.train.torch import TorchTrainer

from glyph_dist.train.job import fit_reraising_bad_input


def fit(loop: Callable[[dict], object], loop_config: dict, run_dir: Path, num_workers: int, cpus_per_worker: float,
        use_gpu: bool = False, keep_checkpoints: int = 2, max_failures: int = 0) -> ray.train.Result:
    """Run `loop` on the workers as the run RUN_DIR (started again, it resumes from its latest checkpoint)."""
    trainer = TorchTrainer(
        loop, train_loop_config=loop_config,
        scaling_config=ray.train.ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                               resources_per_worker={"CPU": cpus_per_worker}),
        run_config=ray.train.RunConfig(
            name=run_dir.name, storage_path=str(run_dir.parent),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=keep_checkpoints),
            failure_config=ray.train.FailureConfig(max_failures=max_failures),
            logging_config=ray.train.LoggingConfig(log_level="WARNING")))
    return fit_reraising_bad_input(trainer)
