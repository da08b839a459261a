"""The `context_bench` trial kind: one (dataset, strategy, budget, seed, answerer) cell row per trial.

Driver side (`prepare`): checks every trial's keys and values before any trial starts, writes the
seeded Phase-5 data sets a trial names, starts the shared FGMS shard actors and the model actors that
the answerer and judge read through (one per model).
Trial side (`run`): builds the context strategy and answers the questions; the tape, tokenizer and
episodes are loaded once per trial actor (Tune reuses the actors). `finish` groups the rows into
one JSON file per (dataset, budget, seed, answerer, judge) in the context-benchmark schema and
writes the Phase-5 report.
"""

from __future__ import annotations

import functools
import json
import resource
from pathlib import Path
from typing import get_args

import ray

from glyph_dist.context.bench import CellConfig, run_strategy, token_counter_name
from glyph_dist.context.episodes import load_episodes
from glyph_dist.context.strategies import FgtContext, make_strategy
from glyph_dist.errors import GlyphDistError
from glyph_dist.fgms.schema import Mode, Policy, Relevance, Unit
from glyph_dist.models.actors import serve_models, shared_answerer, shared_judge
from glyph_dist.models.answerers import answerer_spec
from glyph_dist.models.judges import judge_spec
from glyph_dist.runner.trial import Prepared

GENERATED = ("agent_logs", "public_dialog")  # data set names made by `glyph-dist data prepare`
KEYS = {"dataset", "strategy", "budget", "seed", "split", "answerer", "judge", "policy", "mode", "relevance", "unit",
        "tape", "tokenizer", "data_dir", "fgms_shards", "model_gpus"}
READ_DEFAULTS = {"relevance": "hybrid", "unit": "turn"}  # fgt_context's, as in `glyph-dist bench context`
READ_OPTIONS = {"policy": Policy, "mode": Mode, "relevance": Relevance, "unit": Unit}
PATH_KEYS = ("dataset", "tape", "tokenizer", "data_dir")  # made absolute by the runner


def dataset_path(value: str, seed: int, data_dir: str) -> Path:
    """A generated data set by name (its realisation for the seed), or a JSONL file by path."""
    if value in GENERATED:
        return Path(data_dir).resolve() / "seeds" / str(seed) / "phase5" / f"{value}.jsonl"
    path = Path(value)
    if path.suffix != ".jsonl":
        raise GlyphDistError(f"unknown dataset {value!r}: use {' or '.join(GENERATED)}, or a path to a .jsonl file")
    return path.resolve()


def read_settings(trial: dict) -> dict:
    """fgt_context's FGMS read: policy, mode, relevance and unit."""
    return {"policy": trial["policy"], "mode": trial["mode"],
            **{key: trial.get(key, default) for key, default in READ_DEFAULTS.items()}}


def check(trials: list[dict]) -> list[dict]:
    """The trials to run, their answerer and judge naming models by absolute directory; every error a
    trial would meet on its inputs is raised before any starts."""
    checked = []
    for trial in trials:
        unknown = set(trial) - KEYS
        if unknown:
            raise GlyphDistError(f"context_bench: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KEYS))}")
        CellConfig(dataset=str(trial["dataset"]), budget=int(trial["budget"]), strategies=(trial["strategy"],))
        for key, allowed in READ_OPTIONS.items():
            if key in trial and trial[key] not in get_args(allowed):
                raise GlyphDistError(f"context_bench: {key} {trial[key]!r} is not one of {', '.join(get_args(allowed))}")
        dataset_path(str(trial["dataset"]), int(trial["seed"]), trial["data_dir"])
        checked.append({**trial, "answerer": answerer_spec(str(trial["answerer"])),
                        "judge": judge_spec(str(trial["judge"]))})
    return checked


def prepare(trials: list[dict], run_dir: Path) -> Prepared:
    """Driver side: data sets, FGMS shards and model actors."""
    from glyph_dist.data.phase5 import prepare_phase5
    from glyph_dist.fgms.shard import ShardRouter
    from glyph_dist.fgt.store import load_tape

    check(trials)
    files = []
    for dataset, seed, data_dir in sorted({(str(t["dataset"]), int(t["seed"]), t["data_dir"]) for t in trials}):
        path = dataset_path(dataset, seed, data_dir)
        if dataset in GENERATED and not path.exists():
            prepare_phase5(path.parents[1], seed=seed, quiet=True)
        if not path.exists():
            raise GlyphDistError(f"data set not found: {path}")
        load_episodes(path, trials[0].get("split"))  # malformed lines fail here, naming file and line
        files.append(path)
    tapes = {(t["tape"], t.get("tokenizer")) for t in trials}
    prepared = Prepared({"fgms_storage": str(run_dir / "fgms")}, [], files)
    for tape, tokenizer in tapes:
        load_tape(tape)
    if any(t["strategy"] == FgtContext.name for t in trials):
        if len(tapes) != 1:
            raise GlyphDistError(f"fgt_context trials must share one tape and tokenizer, got {sorted(map(str, tapes))}")
        (tape, tokenizer), = tapes
        router = ShardRouter(str(Path(tape).resolve()), prepared.shared["fgms_storage"], int(trials[0]["fgms_shards"]),
                             tokenizer, shard_cpus=0)
        ray.get(router.stats())
        prepared.actors += router.handles
    prepared.actors += serve_models({t["answerer"] for t in trials}, {t["judge"] for t in trials},
                                    float(trials[0].get("model_gpus", 0)))
    return prepared


@functools.lru_cache(maxsize=4)
def _hybrid(tape: str, tokenizer: str | None):
    from glyph_dist.fgt.hybrid import HybridTokenizer
    from glyph_dist.fgt.store import load_tape, load_tokenizer

    return HybridTokenizer(load_tape(tape), base=load_tokenizer(tokenizer) if tokenizer else None)


@functools.lru_cache(maxsize=16)
def _episodes(path: Path, split: str | None):
    return [e for e in load_episodes(path, split) if e.questions]


def run(trial: dict) -> dict:
    """One trial: the strategy's row for the cell, with telemetry."""
    from glyph_dist.fgms.shard import RouterMemory

    hybrid = _hybrid(str(Path(trial["tape"]).resolve()), trial.get("tokenizer"))
    memory = None
    if trial["strategy"] == FgtContext.name:
        memory = RouterMemory(str(Path(trial["tape"]).resolve()), trial["fgms_storage"], int(trial["fgms_shards"]),
                              trial.get("tokenizer"))
    strategy = make_strategy(trial["strategy"], hybrid, memory, **read_settings(trial))
    answerer, judge = shared_answerer(trial["answerer"]), shared_judge(trial["judge"])
    episodes = _episodes(dataset_path(str(trial["dataset"]), int(trial["seed"]), trial["data_dir"]), trial.get("split"))
    row = run_strategy(strategy, episodes, int(trial["budget"]), answerer, judge)
    tokens = row["avg_tokens"] * row["n_questions"]
    return {**row, "answerer": answerer.name, "judge": judge.name, "tokens": tokens,
            "time_ms_per_100": 100 * row["latency_ms_mean"],
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "token_counter": token_counter_name(hybrid), "n_episodes": len(episodes)}


def finish(trials_and_rows: list[tuple[dict, dict]], out: Path, docs: Path | None, run_dir: Path) -> list[Path]:
    """One context-benchmark JSON per cell, then the Phase-5 report (when `docs` is given)."""
    from glyph_dist.files import write_text
    from glyph_dist.reports.phase5 import write_phase5_report

    cells: dict[tuple, dict] = {}
    for trial, row in trials_and_rows:
        dataset = str(trial["dataset"])
        name = dataset if dataset in GENERATED else Path(dataset).stem
        key = (name, int(trial["budget"]), int(trial["seed"]), row["answerer"], row["judge"])
        cell = cells.setdefault(key, {"config": {
            "dataset": str(dataset_path(dataset, int(trial["seed"]), trial["data_dir"])), "dataset_name": name,
            "split": trial.get("split"), "budget": int(trial["budget"]), "seed": int(trial["seed"]),
            "answerer": row["answerer"], "judge": row["judge"], "token_counter": row["token_counter"],
            **read_settings(trial), "strategies": [],
            "n_episodes": row["n_episodes"], "n_questions": row["n_questions"]}, "results": {}})
        cell["config"]["strategies"].append(trial["strategy"])
        cell["results"][trial["strategy"]] = {k: v for k, v in row.items()
                                              if k not in ("answerer", "judge", "token_counter", "n_episodes")}
    paths = []
    for (name, budget, seed, answerer, judge), cell in sorted(cells.items()):
        slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in f"{answerer}_{judge}")
        path = out / f"{name}_b{budget}_s{seed}_{slug}.json"
        write_text(path, json.dumps(cell, indent=1) + "\n")
        paths.append(path)
    if docs is not None:
        write_phase5_report(out, docs)
    return paths
