"""`glyph-dist run EXPERIMENT.yaml [key=value ...]`: the experiment's trials on Ray Tune.

Ray is started locally (`ray.init()`) or joined (`--address`, `RAY_ADDRESS`; under `ray job submit`
the job's cluster). The trials are a grid over the experiment's axes, with per-trial resources and
at most `max_concurrent` at once; Tune reuses the trial actors, so what a trial loads once (tape,
tokenizer, episodes) serves the next. A run directory keeps the resolved experiment, `meta.json`,
Tune's state (`--resume RUN_DIR` finishes an interrupted run without redoing finished trials) and
the result rows (`results.jsonl`, `results.csv`); a failed trial is reported and the others go on.
`meta.json` says how the run ended (`status`: running, finished, interrupted or failed). `tracking`
logs the trials to MLflow or TensorBoard as well (glyph_dist.runner.tracking). An
interrupted run (Ctrl-C, SIGINT) keeps the rows of its finished trials but writes no cell files or
report from the partial grid: the resume that finishes the grid writes them.
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
from ray.tune.experiment import Trial

from glyph_dist.errors import GlyphDistError
from glyph_dist.files import read_json, write_text
from glyph_dist.provenance import utc_now
from glyph_dist.registry import Registry
from glyph_dist.runner import eval_trial
from glyph_dist.runner.config import Experiment
from glyph_dist.runner.meta import run_meta
from glyph_dist.runner.tracking import tracking_callbacks

TRIAL_KINDS = Registry("trial kind", {"eval": eval_trial})
EXPERIMENT_FILE, TUNE_DIR = "experiment.yaml", "tune"


def _trainable(config: dict) -> None:
    """One Tune trial: the trial kind's row, reported once (scalars as metrics, the row as JSON)."""
    start = time.perf_counter()
    row = TRIAL_KINDS[config["kind"]].run({**config["trial"], **config["shared"]})
    row["trial_seconds"] = time.perf_counter() - start
    tune.report({"row": json.dumps(row), **{k: v for k, v in row.items() if isinstance(v, (int, float))}})


class Progress(tune.Callback):
    """`[trials 27/120] 1 failed, 41 s elapsed, about 100 s left` on one line of standard error.

    Counts include the trials a resumed run finished before; elapsed time and the time left come
    from this process's trials only. The line is ended when the run ends, finished or not.
    """

    def setup(self, total_num_samples: int | None = None, **info):  # at the start of every fit, resumed too
        self.total, self.start, self.ended_here, self.line_open = total_num_samples, time.monotonic(), 0, False

    def _print(self, trials: list[Trial], trial: Trial, failed_now: bool) -> None:
        # `trials` holds the trials created so far (Tune creates them as slots free up)
        ended = [t for t in trials if t is not trial and t.status in (Trial.TERMINATED, Trial.ERROR)]
        done, failed = len(ended) + 1, sum(t.status == Trial.ERROR for t in ended) + failed_now
        self.ended_here += 1
        elapsed = time.monotonic() - self.start
        left = elapsed / self.ended_here * (self.total - done)
        self.line_open = done < self.total
        print(f"\r[trials {done}/{self.total}] {failed} failed, {elapsed:.0f} s elapsed, about {left:.0f} s left ",
              end="" if self.line_open else "\n", file=sys.stderr, flush=True)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._print(trials, trial, failed_now=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._print(trials, trial, failed_now=True)

    def on_experiment_end(self, trials, **info):
        if self.line_open:
            print(file=sys.stderr, flush=True)


def _kind(experiment: Experiment):
    try:
        return TRIAL_KINDS.get(experiment.spec["trial"])
    except GlyphDistError as error:
        raise GlyphDistError(f"{experiment.source}: {error}") from None


def absolute_paths(trial: dict, keys: tuple[str, ...]) -> dict:
    """Existing relative paths made absolute: Tune runs each trial in a directory of its own."""
    return {k: str(Path(v).resolve()) if k in keys and isinstance(v, str) and Path(v).exists() else v
            for k, v in trial.items()}


def _connect(address: str | None) -> None:
    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False) if address else ray.init(log_to_driver=False)


def _tuner(experiment: Experiment, run_dir: Path, shared: dict, trials: list[dict], resume: bool,
           tracking: list[tune.Callback]) -> tune.Tuner:
    """A new run's tuner, or a resumed one (whose callbacks, tracking included, come back with Tune's state)."""
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
                                  callbacks=[Progress(), *tracking],
                                  failure_config=tune.FailureConfig(max_failures=0)))


def _write_rows(run_dir: Path, rows: list[tuple[dict, dict]]) -> None:
    """results.jsonl (full rows) and results.csv (axes and scalar metrics)."""
    records = [{**trial, **row} for trial, row in rows]
    write_text(run_dir / "results.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    flat = [{k: v for k, v in r.items() if not isinstance(v, (list, dict))} for r in records]
    write_text(run_dir / "results.csv", pd.DataFrame(flat).to_csv(index=False))


def _meta(experiment: Experiment, data_files: list[Path], run_dir: Path, resume: bool) -> dict:
    """A new run's provenance; a resumed run keeps the first one's and adds this process's under
    `resumes` (an earlier attempt's `error` is dropped: the outcome is this process's to record)."""
    meta = run_meta(experiment, data_files)
    if resume and (run_dir / "meta.json").exists():
        first = read_json(run_dir / "meta.json")
        first.pop("error", None)
        meta = {**first, "resumes": [*first.get("resumes", []), meta]}
    return meta


def _record(run_dir: Path, meta: dict, **fields) -> dict:
    meta.update(fields)
    write_text(run_dir / "meta.json", json.dumps(meta, indent=1) + "\n")
    return meta


def _collect(grid, trials: list[dict]) -> tuple[list[tuple[dict, dict]], list[tuple[dict, object]]]:
    """(trial, row) of the finished trials in the experiment's order, and (trial, error) of the failed."""
    rows, failed = [], []
    for result in grid:
        trial = result.config["trial"]
        if result.error is not None:
            failed.append((trial, result.error))
        elif (result.metrics or {}).get("done") and "row" in result.metrics:  # reported, then returned
            rows.append((trial, json.loads(result.metrics["row"])))
    order = {json.dumps(t, sort_keys=True): k for k, t in enumerate(trials)}
    rows.sort(key=lambda pair: order.get(json.dumps(pair[0], sort_keys=True), len(order)))
    return rows, failed


def run_experiment(experiment: Experiment | None, run_dir: Path, address: str | None = None,
                   resume: bool = False) -> dict:
    """Run (or resume) the experiment in `run_dir`; returns a summary with its `status` (finished or
    interrupted), the trial counts and the output paths."""
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
    tracking = [] if resume else tracking_callbacks(experiment, run_dir)
    _connect(address)
    print(f"{experiment.name}: {len(trials)} trials over {', '.join(experiment.axes)} -> {run_dir}", file=sys.stderr)
    prepared = kind.prepare(trials, run_dir)
    meta = _record(run_dir, _meta(experiment, prepared.data_files, run_dir, resume), status="running")
    try:
        try:
            start = time.monotonic()
            grid = _tuner(experiment, run_dir, prepared.shared, trials, resume, tracking).fit()
            seconds = time.monotonic() - start
        finally:
            for actor in prepared.actors:
                ray.kill(actor, no_restart=True)
        rows, failed = _collect(grid, trials)
        for trial, error in failed:
            print(f"failed trial {json.dumps(trial)}: {str(error).strip().splitlines()[-1]}", file=sys.stderr)
        _write_rows(run_dir, rows)
        # Tune ends a fit before every trial has ended only when it is interrupted.
        interrupted = len(rows) + len(failed) < len(trials)
        outputs = []
        if rows and not interrupted:
            out = Path(experiment.spec.get("out") or run_dir / "out")
            report = experiment.spec.get("report")
            outputs = kind.finish(rows, out, Path(report) if report else None, run_dir)
    except BaseException as error:
        _record(run_dir, meta, status="interrupted" if isinstance(error, KeyboardInterrupt) else "failed",
                ended_at=utc_now(), error=f"{type(error).__name__}: {error}")
        raise
    summary = {"status": "interrupted" if interrupted else "finished", "trials": len(trials),
               "finished": len(rows), "failed": len(failed)}
    _record(run_dir, meta, **summary, ended_at=utc_now())
    return {**summary, "run_dir": run_dir, "seconds": seconds, "outputs": outputs}
