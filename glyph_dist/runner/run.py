"""`glyph-dist run EXPERIMENT.yaml [key=value ...]`: the experiment's trials on Ray Tune.

Ray is started locally (`ray.init()`) or joined (`--address`, `RAY_ADDRESS`; under `ray job submit`
the job's cluster). The trials are a grid over the experiment's axes, with per-trial resources and
at most `max_concurrent` at once; Tune reuses the trial actors, so what a trial loads once (tape,
tokenizer, episodes) serves the next. A run directory keeps the resolved experiment, `meta.json`,
Tune's state (`--resume RUN_DIR` finishes an interrupted run without redoing finished trials) and
the result rows (`results.jsonl`, `results.csv`); a failed trial is reported and the others go on.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pandas as pd
import ray
import yaml
from ray import tune

from glyph_dist.errors import GlyphDistError
from glyph_dist.files import write_text
from glyph_dist.runner import context_trial, memory_trial
from glyph_dist.runner.config import Experiment
from glyph_dist.runner.meta import run_meta

TRIAL_KINDS = {"context_bench": context_trial, "memory_eval": memory_trial}
EXPERIMENT_FILE, TUNE_DIR = "experiment.yaml", "tune"


def _trainable(config: dict) -> None:
    """One Tune trial: the trial kind's row, reported once (scalars as metrics, the row as JSON)."""
    start = time.perf_counter()
    row = TRIAL_KINDS[config["kind"]].run({**config["trial"], **config["shared"]})
    row["trial_seconds"] = time.perf_counter() - start
    tune.report({"row": json.dumps(row), **{k: v for k, v in row.items() if isinstance(v, (int, float))}})


class Progress(tune.Callback):
    """`[trials 7/24] 1 failed, 41 s elapsed, about 100 s left` on one line of standard error."""

    def __init__(self, total: int):
        self.total, self.done, self.failed, self.start = total, 0, 0, time.monotonic()

    def _print(self) -> None:
        elapsed = time.monotonic() - self.start
        left = elapsed / self.done * (self.total - self.done) if self.done else float("nan")
        print(f"\r[trials {self.done}/{self.total}] {self.failed} failed, {elapsed:.0f} s elapsed, "
              f"about {left:.0f} s left ", end="" if self.done < self.total else "\n", file=sys.stderr, flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.done += 1
        self._print()

    def on_trial_error(self, iteration, trials, trial, **info):
        self.done += 1
        self.failed += 1
        self._print()


def _kind(experiment: Experiment):
    try:
        return TRIAL_KINDS[experiment.spec["trial"]]
    except KeyError:
        raise GlyphDistError(f"{experiment.source}: unknown trial kind {experiment.spec['trial']!r}; "
                             f"use {', '.join(TRIAL_KINDS)}") from None


def absolute_paths(trial: dict, keys: tuple[str, ...]) -> dict:
    """Existing relative paths made absolute: Tune runs each trial in a directory of its own."""
    return {k: str(Path(v).resolve()) if k in keys and isinstance(v, str) and Path(v).exists() else v
            for k, v in trial.items()}


def _connect(address: str | None) -> None:
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False) if address else ray.init(log_to_driver=False)


def _tuner(experiment: Experiment, run_dir: Path, shared: dict, trials: list[dict], resume: bool) -> tune.Tuner:
    resources = experiment.spec["resources"]
    trainable = tune.with_resources(_trainable, {"cpu": float(resources.get("cpu", 1)),
                                                 "gpu": float(resources.get("gpu", 0))})
    if resume:
        return tune.Tuner.restore(str(run_dir / TUNE_DIR), trainable, resume_errored=True)
    return tune.Tuner(
        trainable,
        param_space={"kind": experiment.spec["trial"], "shared": shared, "trial": tune.grid_search(trials)},
        tune_config=tune.TuneConfig(max_concurrent_trials=int(experiment.spec["max_concurrent"]), reuse_actors=True,
                                    trial_dirname_creator=lambda trial: f"trial_{trial.trial_id}"),
        run_config=tune.RunConfig(name=TUNE_DIR, storage_path=str(run_dir), verbose=0,
                                  callbacks=[Progress(len(trials))],
                                  failure_config=tune.FailureConfig(max_failures=0)))


def _write_rows(run_dir: Path, rows: list[tuple[dict, dict]]) -> None:
    """results.jsonl (full rows) and results.csv (axes and scalar metrics)."""
    records = [{**trial, **row} for trial, row in rows]
    write_text(run_dir / "results.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    flat = [{k: v for k, v in r.items() if not isinstance(v, (list, dict))} for r in records]
    write_text(run_dir / "results.csv", pd.DataFrame(flat).to_csv(index=False))


def run_experiment(experiment: Experiment | None, run_dir: Path, address: str | None = None,
                   resume: bool = False) -> dict:
    """Run (or resume) the experiment in `run_dir`; returns a summary with the output paths."""
    run_dir = run_dir.resolve()
    if resume:
        if not (run_dir / EXPERIMENT_FILE).exists() or not (run_dir / TUNE_DIR).exists():
            raise GlyphDistError(f"{run_dir} is not a run directory to resume (no {EXPERIMENT_FILE} or {TUNE_DIR}/)")
        experiment = Experiment(str(run_dir / EXPERIMENT_FILE), yaml.safe_load((run_dir / EXPERIMENT_FILE).read_text()))
    elif (run_dir / TUNE_DIR).exists():
        raise GlyphDistError(f"{run_dir} already holds a run: resume it with --resume {run_dir}, or pick another --run-dir")
    kind = _kind(experiment)
    trials = kind.check([absolute_paths(t, kind.PATH_KEYS) for t in experiment.trials()])
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / EXPERIMENT_FILE, yaml.safe_dump(experiment.spec, sort_keys=False))
    _connect(address)
    print(f"{experiment.name}: {len(trials)} trials over {', '.join(experiment.axes)} -> {run_dir}", file=sys.stderr)
    prepared = kind.prepare(trials, run_dir)
    try:
        write_text(run_dir / "meta.json", json.dumps(run_meta(experiment, prepared.data_files), indent=1) + "\n")
        start = time.monotonic()
        grid = _tuner(experiment, run_dir, prepared.shared, trials, resume).fit()
        seconds = time.monotonic() - start
    finally:
        for actor in prepared.actors:
            ray.kill(actor, no_restart=True)
    rows, failed = [], []
    for result in grid:
        trial = result.config["trial"]
        if result.error is not None or "row" not in (result.metrics or {}):
            failed.append((trial, result.error))
        else:
            rows.append((trial, json.loads(result.metrics["row"])))
    order = {json.dumps(t, sort_keys=True): k for k, t in enumerate(trials)}
    rows.sort(key=lambda pair: order.get(json.dumps(pair[0], sort_keys=True), len(order)))
    for trial, error in failed:
        print(f"failed trial {json.dumps(trial)}: {str(error).strip().splitlines()[-1] if error else 'no result'}",
              file=sys.stderr)
    _write_rows(run_dir, rows)
    out = Path(experiment.spec.get("out") or run_dir / "out")
    report = experiment.spec.get("report")
    outputs = kind.finish(rows, out, Path(report) if report else None, run_dir) if rows else []
    return {"run_dir": run_dir, "trials": len(trials), "finished": len(rows), "failed": len(failed),
            "seconds": seconds, "outputs": outputs}
