"""The `eval` trial kind: any context provider on any data set, one row per trial.

Driver side (`check`, `prepare`): every trial's typed parameters (`eval/trial.py:EvalParams`) and
inputs are checked before any starts; the seeded data sets the trials name are generated (context-benchmark
sets, memory suites); the FGMS shard actors (when a provider reads through FGMS) and the model
actors of the answerer and judge are started. Trial side (`run`): the plain-Python trial
(`eval/trial.py:run_trial`) with the tape's hybrid tokenizer as the one token counter. `finish`
writes the trials' layout: `context_bench` (one JSON per cell and the context-benchmark report) or `memory_eval`
(`runs/<DATE>/...` and the roll-up report).
"""

from __future__ import annotations

import datetime
import functools
import sys
from pathlib import Path

import ray

from glyph_dist.context.bench import token_counter_name
from glyph_dist.errors import GlyphDistError
from glyph_dist.eval.episodes import load_data
from glyph_dist.eval.trial import GENERATED, EvalParams, dataset_path, parse_params, run_trial, trial_config
from glyph_dist.models.actors import serve_models, shared_answerer, shared_judge
from glyph_dist.models.answerers import answerer_spec
from glyph_dist.models.judges import judge_spec
from glyph_dist.providers.base import Setup
from glyph_dist.providers.registry import capabilities
from glyph_dist.runner import memory_runs, context_bench_cells
from glyph_dist.runner.trial import Prepared

ALIASES = ("suite", "seeds", "strategy", "schema")  # accepted for dataset, seed, provider and schema_
KEYS = {*EvalParams.model_fields, *ALIASES} - {"schema_"}
PATH_KEYS = ("dataset", "suite", "tape", "tokenizer", "data_dir", "runs_dir")  # made absolute by the runner
SHARED = ("fgms_storage",)  # what `prepare` gives every trial


def _resolved(trial: dict, params: EvalParams, today: str) -> tuple[dict, EvalParams]:
    """The trial under its own keys (`suite` or `dataset`, ...) and its parameters, with paths absolute
    (trials run in their own directories), the date set and models named by absolute directory."""
    update = {key: str(Path(getattr(params, key)).resolve()) for key in ("tape", "tokenizer", "data_dir", "runs_dir")
              if getattr(params, key)}
    if Path(params.dataset).suffix == ".jsonl":
        update["dataset"] = str(Path(params.dataset).resolve())
    update |= {"date": params.date or today, "answerer": answerer_spec(params.answerer),
               "judge": judge_spec(params.judge)}
    given = {("suite" if key == "dataset" and "suite" in trial else key): value for key, value in update.items()}
    return {**trial, **given}, params.model_copy(update=update)


def check(trials: list[dict]) -> list[dict]:
    """The trials to run, canonical and resolved, those the ablation axis leaves identical dropped;
    every error a trial would meet on its parameters is raised before any starts."""
    today = datetime.date.today().isoformat()
    checked, seen = [], {}
    for trial in trials:
        trial, params = _resolved(trial, parse_params(trial), today)
        if not Path(params.tape).exists():
            raise GlyphDistError(f"tape not found: {params.tape} (build one with glyph-dist tape build, or set tape=DIR)")
        dataset_path(params)
        variant = trial_config(params)[2]
        key = params.model_copy(update={"ablation": None, "preset": variant}).model_dump_json()
        if key in seen:
            print(f"eval: {variant} {params.dataset} n={params.n} seed={params.seed}: the ablation "
                  f"{params.ablation!r} changes nothing for this preset or provider; running it once", file=sys.stderr)
            continue
        seen[key] = params
        checked.append(trial)
    memory_runs.check_date_setting([p for p in seen.values() if p.results == "memory_eval"])
    return checked


def prepare(trials: list[dict], run_dir: Path) -> Prepared:
    """Driver side: data sets (generated where named), FGMS shards and model actors."""
    from glyph_dist.data.context_bench import prepare_context_bench
    from glyph_dist.fgms.shard import ShardRouter
    from glyph_dist.fgt.store import load_tape

    params = [parse_params(t) for t in check(trials)]
    files = memory_runs.write_suites(params)
    for p in params:
        path = dataset_path(p)
        if p.dataset in GENERATED and not path.exists():
            prepare_context_bench(path.parents[1], seed=p.seed, quiet=True)
        if path not in files:
            load_data(path, p.split, p.isolation)  # malformed lines fail here, naming file and line
            files.append(path)
    tapes = {(p.tape, p.tokenizer) for p in params}
    for tape, _ in tapes:
        load_tape(tape)
    prepared = Prepared({"fgms_storage": str(run_dir / "fgms")}, [], files)
    if any(capabilities(trial_config(p)[0]).needs_fgms for p in params):
        if len(tapes) != 1:
            raise GlyphDistError(f"FGMS trials must share one tape and tokenizer, got {sorted(map(str, tapes))}")
        (tape, tokenizer), = tapes
        router = ShardRouter(tape, prepared.shared["fgms_storage"], params[0].fgms_shards, tokenizer, shard_cpus=0)
        ray.get(router.stats())
        prepared.actors += router.handles
    prepared.actors += serve_models({p.answerer for p in params}, {p.judge for p in params}, params[0].model_gpus)
    memory_runs.write_planned([(p, trial_config(p)[2]) for p in params if p.results == "memory_eval"])
    return prepared


@functools.lru_cache(maxsize=4)
def _hybrid(tape: str, tokenizer: str | None):
    from glyph_dist.fgt.hybrid import HybridTokenizer
    from glyph_dist.fgt.store import load_tape, load_tokenizer

    return HybridTokenizer(load_tape(tape), base=load_tokenizer(tokenizer) if tokenizer else None)


def run(trial: dict) -> dict:
    """One trial: the provider's row on the data set, with its token counter."""
    from glyph_dist.fgms.shard import RouterMemory

    params = parse_params({k: v for k, v in trial.items() if k not in SHARED})
    hybrid = _hybrid(params.tape, params.tokenizer)
    fgms = None
    if capabilities(trial_config(params)[0]).needs_fgms:
        fgms = RouterMemory(params.tape, trial["fgms_storage"], params.fgms_shards, params.tokenizer)
    setup = Setup(hybrid, fgms, params.fgms_read)
    row = run_trial(params, setup, shared_answerer(params.answerer), shared_judge(params.judge))
    return {**row, "token_counter": token_counter_name(hybrid)}


def finish(trials_and_rows: list[tuple[dict, dict]], out: Path, report: Path | None, run_dir: Path) -> list[Path]:
    """The `context_bench` trials' cells and report, and the `memory_eval` trials' runs and roll-up."""
    rows = [(parse_params(trial), row) for trial, row in trials_and_rows]
    paths = []
    cells = [(p, row) for p, row in rows if p.results == "context_bench"]
    if cells:
        paths += context_bench_cells.write_cells(cells, out, report)
    memory = [(p, row) for p, row in rows if p.results == "memory_eval"]
    if memory:
        paths += memory_runs.write_runs(memory, report, run_dir)
    return paths
