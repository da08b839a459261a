"""`glyph-dist emergence sweep CONFIG.yaml [key=value ...]`: the data-mix sweep on Ray Tune.

One trial per (glyph_share, seed): rewrite the kept traces at that share (seeded), fine-tune with
`glyph-dist train sft` (Ray Train + DeepSpeed, the prompt masked) and evaluate the checkpoint on
held-out problems. Share 0 is the natural-only control. The untrained base model is evaluated
once as well, and all of them go into one report. Keys (see experiments/emergence_sweep.yaml):

    name, storage_path          trials' data, SFT runs and Tune's state under STORAGE_PATH/NAME
    unified, kept               the outputs of `emergence unify` and `emergence filter`
    sft, sft_overrides          the SFT job's YAML and keys laid over it (train/val files, name,
                                seed and storage are set per trial)
    glyph_share, seeds          the grid
    selection, n_train, val_share, template    the rewrite's settings
    eval                        n, seed, max_new_tokens, batch_size, actors, cpus_per_actor, gpus_per_actor
    base_model                  the untrained model to evaluate alongside (null: none)
    max_concurrent, out         trials at once; the report directory
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import ray
from ray import tune

from glyph_dist.emergence.evaluate import eval_setup, evaluate_model, heldout_sample
from glyph_dist.emergence.records import PROBLEM_KEYS, TRACE_KEYS, read_records
from glyph_dist.emergence.rewrite import rewrite
from glyph_dist.errors import GlyphDistError
from glyph_dist.models.catalog import resolve_model
from glyph_dist.train.config import config_from_dict
from glyph_dist.train.job import TRIAL_RESOURCES, train_sft
from glyph_dist.yamlconf import apply_overrides, read_mapping, set_key

EVAL_KEYS = {"n": 200, "seed": 0, "max_new_tokens": 256, "batch_size": 8, "actors": 1, "cpus_per_actor": 1,
             "gpus_per_actor": 0}
DEFAULTS = {"name": "emergence_sweep", "storage_path": "runs/emergence", "unified": "data/emergence/unified.jsonl",
            "kept": "data/emergence/kept.jsonl", "sft": "experiments/emergence_sft.yaml", "sft_overrides": {},
            "glyph_share": [0.0, 0.5, 1.0], "seeds": [1337], "selection": "hardest", "n_train": None,
            "val_share": 0.1, "template": "smollm2", "eval": EVAL_KEYS, "base_model": "smollm2",
            "max_concurrent": 1, "out": "reports/emergence/sweep"}
PATH_KEYS = ("storage_path", "unified", "kept", "sft", "out")


def load_sweep(path: Path | str, overrides: list[str] = ()) -> dict:
    """The sweep's settings: defaults, the file, then `key=value` overrides (`eval.n=50` sets one eval key)."""
    sections = {"eval": dict, "sft_overrides": dict}
    settings = copy.deepcopy(DEFAULTS)
    for key, value in read_mapping(path, "sweep config").items():
        set_key(settings, str(key), value, sections, DEFAULTS, str(path))
    settings = apply_overrides(settings, overrides, sections, DEFAULTS)
    if not isinstance(settings["eval"], dict) or set(settings["eval"]) - set(EVAL_KEYS):
        raise GlyphDistError(f"{path} or an override: eval takes the keys {', '.join(EVAL_KEYS)}")
    settings["eval"] = {**EVAL_KEYS, **settings["eval"]}
    for key in ("glyph_share", "seeds"):
        if not isinstance(settings[key], list) or not settings[key]:
            raise GlyphDistError(f"{path}: {key} must be a non-empty list")
    for key in PATH_KEYS:
        settings[key] = str(Path(settings[key]).expanduser().resolve())
    return settings


def _models(settings: dict) -> tuple[Path | None, Path | None]:
    template = resolve_model(settings["template"]) if settings["template"] else None
    base = resolve_model(settings["base_model"]) if settings["base_model"] else None
    return template, base


def trial(params: dict) -> None:
    """One Tune trial: rewrite at the trial's share and seed, train, evaluate; reports one row. It runs in
    the sweep's working directory (Tune starts it in the trial's own), where the SFT config's relative
    paths and catalog names (`model: smollm2`, resolved under `models/`) mean what they mean to the sweep."""
    os.chdir(params["cwd"])
    s, share, seed = params["settings"], params["glyph_share"], params["seed"]
    label = f"glyph{share:g}-seed{seed}"
    home = Path(s["storage_path"]) / s["name"] / "trials" / label
    problems, kept = read_records(s["unified"], PROBLEM_KEYS), read_records(s["kept"], TRACE_KEYS)
    data = rewrite(problems, kept, home / "data", share, s["selection"], s["n_train"], s["val_share"], seed,
                   Path(params["template"]) if params["template"] else None)
    sft = {**read_mapping(s["sft"], "SFT config"), **s["sft_overrides"],
           "name": label, "storage_path": str(home), "seed": seed,
           "train_file": data["files"]["train"]["path"], "val_file": data["files"]["val"]["path"]}
    result = train_sft(config_from_dict(sft, f"{s['sft']} (trial {label})"), quiet=True)
    if result.checkpoint is None:
        raise GlyphDistError(f"trial {label}: training left no checkpoint")
    e = s["eval"]
    evaluated = evaluate_model(label, result.checkpoint, heldout_sample(problems, e["n"], e["seed"]), home / "eval",
                               e["seed"], e["max_new_tokens"], e["batch_size"], e["actors"], e["cpus_per_actor"],
                               e["gpus_per_actor"])
    tune.report({"model": json.dumps(evaluated), "glyph_share": share, "seed": seed,
                 "selectivity_any": evaluated["selectivity"]["glyph_any"]["value"] or 0.0,
                 "accuracy": evaluated["accuracy"]})


def run_sweep(settings: dict) -> dict:
    """Run the grid (Tune reports failed trials and goes on), evaluate the base model; returns the
    summary that the report is written from."""
    template, base = _models(settings)
    problems = read_records(settings["unified"], PROBLEM_KEYS)
    e = settings["eval"]
    sample = heldout_sample(problems, e["n"], e["seed"])  # a bad n fails before any trial
    read_records(settings["kept"], TRACE_KEYS)
    if not ray.is_initialized():
        ray.init(log_to_driver=False)
    tuner = tune.Tuner(
        tune.with_resources(trial, TRIAL_RESOURCES),
        param_space={"settings": settings, "cwd": str(Path.cwd()), "template": str(template) if template else None,
                     "glyph_share": tune.grid_search(settings["glyph_share"]), "seed": tune.grid_search(settings["seeds"])},
        tune_config=tune.TuneConfig(max_concurrent_trials=settings["max_concurrent"]),
        run_config=tune.RunConfig(name="tune", storage_path=str(Path(settings["storage_path"]) / settings["name"]),
                                  verbose=0, failure_config=tune.FailureConfig(max_failures=0)))
    grid = tuner.fit()
    models, failed = [], []
    for result in grid:
        if result.error is not None or "model" not in (result.metrics or {}):
            failed.append({"glyph_share": result.config["glyph_share"], "seed": result.config["seed"],
                           "error": str(result.error).strip().splitlines()[-1] if result.error else "no result"})
        else:
            models.append(json.loads(result.metrics["model"]))
    models.sort(key=lambda m: m["name"])
    if base is not None:
        models.insert(0, evaluate_model("base", base, sample, Path(settings["out"]) / "outputs", e["seed"],
                                        e["max_new_tokens"], e["batch_size"], e["actors"], e["cpus_per_actor"],
                                        e["gpus_per_actor"]))
    return {"eval": eval_setup(sample, e["seed"], e["max_new_tokens"]), "models": models, "failed": failed,
            "sweep": settings}
