"""`glyph-dist train sft CONFIG.yaml [key=value ...]`: supervised fine-tuning on Ray Train with DeepSpeed.

The driver checks everything it can before a worker starts (config, data files line by line, glyph
tokens, model directory, ZeRO configuration, the checkpoint to resume from), tokenizes the pairs
once and hands them to `TorchTrainer`, whose workers run `loop.train_loop_per_worker`.

The run lives in STORAGE_PATH/NAME. Started again with the same name it continues from its latest
checkpoint (Ray Train restores the run's checkpoint list and `ray.train.get_checkpoint()` returns
the newest); `resume_from` continues from a checkpoint of another run. The driver adds the resolved
config (`sft_config.yaml`), the metrics of every step (`history.jsonl`) and the provenance
(`meta.json`: code version, libraries, data hashes) to the run directory.

Inside a Ray Tune trial the same call reports every metric to Tune as well. A trial only waits
on Ray Train's controller while the workers hold the CPUs, so `sft_trial` reserves no CPU of its
own (`TRIAL_RESOURCES`; Tune refuses a request of nothing, hence a nominal 1 MiB of memory): on a
2-CPU machine a trial with two 1-CPU workers then fits.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import sys
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import ray.train
import ray.tune
import yaml
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback
from transformers import PreTrainedTokenizerBase

from glyph_dist.errors import GlyphDistError
from glyph_dist.progress import Steps
from glyph_dist.provenance import file_sha256, git_commit, versions
from glyph_dist.train.checkpoint import check_resumable
from glyph_dist.train.config import SFTConfig, absolute_paths, check_config, config_from_dict
from glyph_dist.models.pairs import TokenizedPairs, check_glyph_tokens, read_pairs, tokenize_pairs
from glyph_dist.train.data import steps_per_epoch
from glyph_dist.train.loop import train_loop_per_worker
from glyph_dist.train.model import context_length, load_sft_tokenizer
from glyph_dist.train.zero import check_zero

TRIAL_RESOURCES = {"cpu": 0, "memory": 2**20}  # for tune.with_resources(sft_trial, ...)
CONFIG_FILE, HISTORY_FILE, META_FILE = "sft_config.yaml", "history.jsonl", "meta.json"


@dataclass
class Prepared:
    tokenizer: PreTrainedTokenizerBase
    train: TokenizedPairs
    val: TokenizedPairs


@dataclass
class SFTResult:
    metrics: dict  # the last metrics reported (loss, eval_loss, tokens_per_s, step, ...)
    checkpoint: Path | None  # the latest checkpoint: a save_pretrained directory
    path: Path  # the run directory
    history: list[dict]  # the metrics of every step from step 1 (a resumed run's earlier steps included)


def prepare(config: SFTConfig) -> Prepared:
    """Read both splits (errors name file and line), load the tokenizer, check and tokenize."""
    pairs = {path: read_pairs(Path(path), config.where) for path in (config.train_file, config.val_file)}
    limit = context_length(config)
    if limit is not None and config.max_length > limit:
        raise GlyphDistError(f"max_length {config.max_length} exceeds the model's context of {limit} tokens")
    tokenizer = load_sft_tokenizer(config)
    for path, split in pairs.items():
        if not config.glyph_codes_as_text:
            check_glyph_tokens(split, tokenizer, Path(path))
    train, val = (tokenize_pairs(pairs[p], tokenizer, config.max_length) for p in (config.train_file, config.val_file))
    return Prepared(tokenizer, train, val)


def run_dir(config: SFTConfig) -> Path:
    return Path(config.storage_path) / config.name


def _checkpoint_to_resume(config: SFTConfig) -> Path | None:
    """The run's latest checkpoint if the run exists, else `resume_from`."""
    if run_dir(config).is_dir():
        try:
            latest = ray.train.Result.from_path(run_dir(config)).checkpoint
        except RuntimeError:  # a directory without Ray Train's checkpoint list
            latest = None
        if latest is not None:
            return Path(latest.path)
    return Path(config.resume_from) if config.resume_from else None


def _meta(config: SFTConfig) -> dict:
    spec = json.dumps(dataclasses.asdict(config), sort_keys=True)
    return {"name": config.name, "config_hash": hashlib.sha256(spec.encode()).hexdigest()[:16],
            "git_commit": git_commit(), "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "python": sys.version.split()[0], "os": platform.platform(), "versions": versions(),
            "data": {path: file_sha256(Path(path)) for path in (config.train_file, config.val_file)}}


def _in_tune_trial() -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # outside a trial Tune warns and answers None
        return ray.tune.get_context().get_trial_id() is not None


def _fit(config: SFTConfig, prepared: Prepared, quiet: bool) -> ray.train.Result:
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"config": config, "tokenizer": prepared.tokenizer, "train": prepared.train,
                           "val": prepared.val, "quiet": quiet},
        scaling_config=ray.train.ScalingConfig(num_workers=config.num_workers, use_gpu=config.use_gpu,
                                               resources_per_worker={"CPU": config.cpus_per_worker}),
        run_config=ray.train.RunConfig(
            name=config.name, storage_path=config.storage_path,
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=config.keep_checkpoints),
            failure_config=ray.train.FailureConfig(max_failures=config.max_failures),
            callbacks=[TuneReportCallback()] if _in_tune_trial() else None,
            logging_config=ray.train.LoggingConfig(log_level="WARNING")))  # rank 0 logs each step itself
    return fit_reraising_bad_input(trainer)


def fit_reraising_bad_input(trainer: TorchTrainer) -> ray.train.Result:
    """`trainer.fit()`, raising a worker's GlyphDistError (bad input) itself rather than Ray's wrapper."""
    try:
        return trainer.fit()
    except ray.train.WorkerGroupError as exc:
        bad_input = [e for e in exc.worker_failures.values() if isinstance(e, GlyphDistError)]
        if bad_input:
            raise bad_input[0] from exc
        raise


def train_sft(config: SFTConfig, quiet: bool = False) -> SFTResult:
    """Fine-tune on Ray Train (TorchTrainer + DeepSpeed); returns the final metrics and checkpoint."""
    config = absolute_paths(check_config(dataclasses.replace(config)))
    steps = Steps(3, quiet)
    with steps.step("check the ZeRO settings and the checkpoint to resume from"):
        check_zero(config)
        resume = _checkpoint_to_resume(config)
        if resume is not None:
            check_resumable(resume, config)
    with steps.step("read, check and tokenize the pairs"):
        prepared = prepare(config)
        per_epoch = steps_per_epoch(len(prepared.train), config.num_workers, config.micro_batch_size, config.grad_accum)
    with steps.step(f"train: {config.max_steps} steps of {config.global_batch} pairs ({per_epoch} a epoch), "
                    f"{config.num_workers} workers, ZeRO-{config.zero_stage}"):
        result = _fit(config, prepared, quiet)
    path = Path(result.path)
    history = result.return_value or []
    (path / CONFIG_FILE).write_text(yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))
    (path / HISTORY_FILE).write_text("".join(json.dumps(row) + "\n" for row in history))
    (path / META_FILE).write_text(json.dumps(_meta(config), indent=1) + "\n")
    return SFTResult(result.metrics or {}, Path(result.checkpoint.path) if result.checkpoint else None, path, history)


def sft_trial(params: dict) -> None:
    """A Ray Tune function: `params` are SFTConfig keys (any of them a search space); each trial trains
    as its own run, NAME_TRIALID, and Tune receives every reported metric. Wrap it as
    `tune.with_resources(sft_trial, TRIAL_RESOURCES)`; give paths as absolute (Tune runs a trial in
    a directory of its own)."""
    config = config_from_dict(params, "trial config")
    config.name = f"{config.name}_{ray.tune.get_context().get_trial_id()}"
    train_sft(config, quiet=True)
