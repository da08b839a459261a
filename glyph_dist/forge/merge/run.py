"""`glyph-dist forge evolve`: parents -> evolution on a Ray actor pool -> the champion scored on the final split.

STORAGE_PATH/NAME holds:

    parents.json       every parent's metrics on both splits (measured once, reused on resume with the
                       same evaluation settings)
    state.json         the population and per-generation history (evolve.py)
    candidates/ID/     the living members as model directories
    champion/          a copy of the champion
    summary.json       parents and champion on the final split (with per-window and per-problem
                       results for the report's bootstrap), the history, combo usage

The final split is used only here, after the evolution: nothing in the evolution saw it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.files import write_text
from glyph_dist.forge.merge.config import EvolveConfig
from glyph_dist.forge.merge.evaluate import SPLITS, EvalSettings
from glyph_dist.forge.merge.evolve import Evolution
from glyph_dist.forge.merge.family import family_of, resolve_model_dir
from glyph_dist.forge.merge.fitness import fitness, reference, terms
from glyph_dist.forge.merge.pool import EvalPool
from glyph_dist.forge.merge.state import shared_fraction

PARENTS_FILE, SUMMARY_FILE, CHAMPION = "parents.json", "summary.json", "champion"


def _parents(config: EvolveConfig) -> tuple[list[Path], Path | None, list[str]]:
    directories = [resolve_model_dir(p) for p in config.parents]
    families = {family_of(d).name for d in directories}
    if len(families) > 1:
        raise GlyphDistError(f"evolve: the parents are of different families ({', '.join(sorted(families))})")
    base = resolve_model_dir(config.base) if config.base else None
    names = config.names or [Path(p).name for p in config.parents]
    return directories, base, names


def _parent_metrics(run_dir: Path, directories: list[Path], names: list[str], pool: EvalPool,
                    settings: EvalSettings) -> dict:
    """Every parent on both splits, measured once for the run's evaluation settings."""
    path = run_dir / PARENTS_FILE
    spec = json.loads(json.dumps(asdict(settings)))
    if path.is_file() and (saved := json.loads(path.read_text()))["eval"] == spec:
        return saved["splits"]
    measured = {split: dict(zip(names, pool(directories, split))) for split in SPLITS}
    write_text(path, json.dumps({"eval": spec, "splits": measured}) + "\n")
    return measured


def evolve(config: EvolveConfig, log=print) -> dict:
    run_dir = config.run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    directories, base_dir, names = _parents(config)
    family = family_of(directories[0])
    pool = EvalPool(config.eval, config.workers, use_gpu=config.eval.device.startswith("cuda"))
    try:
        parents = _parent_metrics(run_dir, directories, names, pool, config.eval)
        ref = reference(list(parents["fitness"].values()))
        for split in SPLITS:
            split_ref = reference(list(parents[split].values()))
            for metrics in parents[split].values():
                metrics["fitness"] = fitness(metrics, split_ref, config.fitness)
        log("parents (fitness split): " + ", ".join(f"{n} {m['fitness']:.4f} (perplexity {m['perplexity']:.2f}, "
                                                    f"GSM8K {m['gsm8k_accuracy']:.3f})"
                                                    for n, m in parents["fitness"].items()))
        models = [family.load(d) for d in directories]
        shared = {n: shared_fraction(m.state, models[config.target].state) for n, m in zip(names, models)}
        evolution = Evolution(run_dir, family, models, pool,
                              lambda m: fitness(m, ref, config.fitness), config.ga, config.ranges,
                              family.load(base_dir) if base_dir else None, config.target, names, log)
        state = evolution.run()
        champion = evolution.champion(state)
        shutil.rmtree(run_dir / CHAMPION, ignore_errors=True)
        shutil.copytree(evolution.member_dir(champion), run_dir / CHAMPION)
        final = pool([run_dir / CHAMPION], "final")[0]
    finally:
        pool.close()
    final_ref = reference(list(parents["final"].values()))
    final["fitness"] = fitness(final, final_ref, config.fitness)
    summary = {
        "name": config.name, "family": family.name, "parents": names, "parent_dirs": [str(d) for d in directories],
        "base": str(base_dir) if base_dir else None, "config": asdict(config), "shared_with_target": shared,
        "fitness_weights": asdict(config.fitness),
        "parents_fitness_split": parents["fitness"], "parents_final": parents["final"],
        "champion": {"id": champion["id"], "origin": champion["origin"], "depth": champion["depth"],
                     "fitness_split": champion["metrics"], "fitness": champion["fitness"], "final": final,
                     "final_terms": terms(final, final_ref)},
        "history": state["history"], "stopped": state["stopped"], "evaluations": evolution.evaluations,  # this call
        "generations_run": state["generation"]}
    write_text(run_dir / SUMMARY_FILE, json.dumps(summary, indent=1) + "\n")
    return summary
