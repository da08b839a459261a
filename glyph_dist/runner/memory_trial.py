"""The `memory_eval` trial kind: one (preset, suite, size, seed, ablation) run of a memory module.

Driver side (`check`, `prepare`): resolves presets, knobs, the date and the answerer's and judge's
models, drops trials that the ablation axis leaves identical, generates the seeded suite files
(`data/memory/...`, recorded in `data/MANIFEST.json`), records the planned trials in
`runs/<DATE>/planned.json` and starts the shared model actors. Trial side (`run`): builds the memory
in the trial actor, writes the whole teach stream, reads one context per question under the budget
and hands exactly that context to the answerer (it is the `context` of the prompt); the judge scores
the answers (containment, and an LLM judge's verdicts with their agreement with the rule). `finish`
writes `metrics.json`, `metrics.csv` and `meta.json` per trial under
`runs/<DATE>/<variant>/<suite>/<n>_<seed>/` and the roll-up report.
"""

from __future__ import annotations

import copy
import datetime
import functools
import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from glyph_dist.errors import GlyphDistError
from glyph_dist.files import read_json, write_text
from glyph_dist.memory.base import PROFILES, Item, MemoryModule, Services
from glyph_dist.memory.combined import AllConfig
from glyph_dist.memory.registry import MEMORIES, build_config, build_memory, changed_settings, check_knobs
from glyph_dist.memory_rows import SPATIAL_METRICS, SUITES
from glyph_dist.models.actors import serve_models, shared_answerer, shared_judge
from glyph_dist.models.answerers import Answerer, ContextRecall, QARequest, answerer_spec
from glyph_dist.models.judges import Judge, judge_spec, llm_rates
from glyph_dist.runner.trial import Prepared
from glyph_dist.yamlconf import parse_override

KNOBS = ("gate", "hopfield", "schema", "macro")  # module settings an ablation may change
KEYS = {"preset", "presets", "suite", "n", "seeds", "profile", "ablation", "answerer", "judge", "budget", "window",
        "date", "max_items", "tape", "tokenizer", "data_dir", "runs_dir", "model_gpus", *KNOBS}
PATH_KEYS = ("tape", "tokenizer", "data_dir", "runs_dir")
NO_ABLATION = "none"
SHARED_BY_DATE = ("answerer", "judge", "profile", "budget", "window", "max_items", "tape", "tokenizer")
LOG_LINES = 20  # of a trial's memory log kept in metrics.json and shown


def _ablation_knobs(ablation: str | None) -> dict[str, dict]:
    """`gate.enabled=false,hopfield.enabled=false` as knob sections; `none` is no change."""
    knobs: dict[str, dict] = {}
    for part in ([] if ablation in (None, NO_ABLATION) else str(ablation).split(",")):
        key, value = parse_override(part)
        section, dot, name = key.partition(".")
        if not dot or section not in KNOBS:
            raise GlyphDistError(f"ablation {part!r}: expected SECTION.KEY=VALUE with SECTION one of {', '.join(KNOBS)}")
        knobs.setdefault(section, {})[name] = value
    return knobs


def module_of(trial: dict) -> tuple[str, dict]:
    """The preset's memory module and its options."""
    presets = trial["presets"]
    if trial["preset"] not in presets:
        raise GlyphDistError(f"unknown preset {trial['preset']!r}; known: {', '.join(presets)}")
    preset = presets[trial["preset"]]
    if not isinstance(preset, dict) or "memory" not in preset:
        raise GlyphDistError(f"preset {trial['preset']!r}: expected a mapping with a 'memory' key")
    memory, options = preset["memory"], dict(preset.get("config") or {})
    if trial.get("max_items") is not None:  # every store with a limit; ALL's three modules each
        if memory == "all":
            for name in AllConfig.model_fields:
                options.setdefault(name, {})["max_items"] = trial["max_items"]
        elif memory in MEMORIES and "max_items" in MEMORIES[memory][1].model_fields:
            options["max_items"] = trial["max_items"]
    return memory, options


def trial_config(trial: dict):
    """(memory, config, variant, changed settings) of a trial."""
    memory, options = module_of(trial)
    knobs = {section: dict(trial.get(section) or {}) for section in KNOBS}
    for section, values in _ablation_knobs(trial.get("ablation")).items():
        knobs[section].update(values)
    check_knobs(knobs)
    config = build_config(memory, knobs, options)
    changes = changed_settings(memory, build_config(memory, {}, options), config)
    variant = trial["preset"] + ("+" + ",".join(f"{k}={json.dumps(v)}" for k, v in changes.items()) if changes else "")
    return memory, config, variant, changes


def suite_path(trial: dict) -> Path:
    return (Path(trial["data_dir"]) / "memory" / trial["suite"]
            / f"{trial['profile']}_n{int(trial['n'])}_s{int(trial['seeds'])}.jsonl")


def trial_dir(trial: dict, variant: str) -> Path:
    return Path(trial["runs_dir"]) / trial["date"] / variant / trial["suite"] / f"{int(trial['n'])}_{int(trial['seeds'])}"


def check(trials: list[dict]) -> list[dict]:
    """The trials to run, with the date resolved and trials the ablation axis leaves identical dropped."""
    today = datetime.date.today().isoformat()
    checked, seen = [], {}
    for trial in trials:
        unknown = set(trial) - KEYS
        if unknown:
            raise GlyphDistError(f"memory_eval: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KEYS))}")
        if trial["suite"] not in SUITES:
            raise GlyphDistError(f"unknown suite {trial['suite']!r}; known: {', '.join(SUITES)} (or all)")
        if trial["profile"] not in PROFILES:
            raise GlyphDistError(f"unknown profile {trial['profile']!r}; known: {', '.join(PROFILES)}")
        for key in ("n", "budget", "window", "seeds", "max_items"):
            value = trial[key]
            if key == "max_items" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or (value <= 0 and key != "seeds"):
                raise GlyphDistError(f"{key}={value!r}: expected {'an' if key == 'seeds' else 'a positive'} integer")
        if not isinstance(trial["model_gpus"], (int, float)) or trial["model_gpus"] < 0:
            raise GlyphDistError(f"model_gpus={trial['model_gpus']!r}: expected a number >= 0")
        if not Path(trial["tape"]).exists():
            raise GlyphDistError(f"tape not found: {trial['tape']} (build one with glyph-dist tape build, or set tape=DIR)")
        trial = {**trial, "date": str(trial.get("date") or today),  # trials run in their own directories
                 **{key: str(Path(trial[key]).resolve()) for key in PATH_KEYS if trial.get(key)},
                 "answerer": answerer_spec(str(trial["answerer"])), "judge": judge_spec(str(trial["judge"]))}
        variant = trial_config(trial)[2]
        key = trial_dir(trial, variant)
        if key in seen:
            print(f"memory_eval: {variant} {trial['suite']} n={trial['n']} seed={trial['seeds']}: the ablation "
                  f"{trial.get('ablation')!r} changes nothing for this preset; running it once", file=sys.stderr)
            continue
        seen[key] = trial
        checked.append(trial)
    _check_date_setting(checked)
    return checked


def _write_suites(trials: list[dict]) -> list[Path]:
    """The suite files the trials read, recorded in the data manifest: generated (it takes well
    under a second) and written when missing or when the generators now give other items."""
    from glyph_dist.data.manifest import read_manifest, sha256, write_manifest
    from glyph_dist.memory.suites import generate_suite
    from glyph_dist.memory.suites.io import suite_text

    paths, entries = [], {}
    for trial in trials:
        path = suite_path(trial)
        if path in paths:
            continue
        items = generate_suite(trial["suite"], int(trial["n"]), int(trial["seeds"]), trial["profile"])
        text = suite_text(items)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            write_text(path, text)
            data_dir = Path(trial["data_dir"])
            entries.setdefault(data_dir, []).append({
                "path": path.relative_to(data_dir).as_posix(), "sha256": sha256(path),
                "generator": f"glyph_dist.memory.suites.{trial['suite']}", "seed": int(trial["seeds"]),
                "profile": trial["profile"], "items": len(items),
                "teach_statements": sum(len(item.teach) for item in items)})
        paths.append(path)
    for data_dir, new in entries.items():
        write_manifest(data_dir, read_manifest(data_dir), new)
    return paths


def _setting(trial: dict) -> dict:
    """What every run of one date shares: the paths under runs/<DATE>/ do not tell these apart."""
    return {key: trial[key] for key in SHARED_BY_DATE}


def _check_date_setting(trials: list[dict]) -> None:
    """A date's runs share one answerer, profile, budget, window, store limit and tape (else their
    files would mix under the same paths)."""
    for runs_dir, date in sorted({(t["runs_dir"], t["date"]) for t in trials}):
        path = Path(runs_dir) / date / "planned.json"
        settings = [read_json(path).get("setting") or {}] if path.exists() else []
        settings += [_setting(t) for t in trials if (t["runs_dir"], t["date"]) == (runs_dir, date)]
        differ = [key for key in SHARED_BY_DATE if len({json.dumps(s.get(key)) for s in settings}) > 1]
        if differ:
            values = "; ".join(f"{key}: {' vs '.join(sorted({json.dumps(s.get(key)) for s in settings}))}"
                               for key in differ)
            raise GlyphDistError(f"{path.parent} would mix runs of different settings ({values}); "
                                 f"give this run its own date=... (any label, e.g. date={date}-b)")


def _write_planned(trials: list[dict]) -> None:
    """`runs/<DATE>/planned.json`: the date's setting and every trial planned for it, across runs."""
    for runs_dir, date in sorted({(t["runs_dir"], t["date"]) for t in trials}):
        path = Path(runs_dir) / date / "planned.json"
        planned = read_json(path)["trials"] if path.exists() else []
        setting = _setting(next(t for t in trials if (t["runs_dir"], t["date"]) == (runs_dir, date)))
        for trial in trials:
            if (trial["runs_dir"], trial["date"]) == (runs_dir, date):
                entry = {"variant": trial_config(trial)[2], "suite": trial["suite"], "n": int(trial["n"]),
                         "seed": int(trial["seeds"])}
                if entry not in planned:
                    planned.append(entry)
        write_text(path, json.dumps({"setting": setting, "trials": planned}, indent=1) + "\n")


def prepare(trials: list[dict], run_dir: Path) -> Prepared:
    """Driver side: suite files, the planned trials, the tape (loaded once to fail early) and model actors."""
    from glyph_dist.fgt.store import load_tape

    paths = _write_suites(trials)
    for tape in sorted({t["tape"] for t in trials}):
        load_tape(tape)
    actors = serve_models({t["answerer"] for t in trials}, {t["judge"] for t in trials},
                          float(trials[0].get("model_gpus", 0)))
    _write_planned(trials)  # last: only trials that can start are planned
    return Prepared({}, actors, paths)


@functools.lru_cache(maxsize=2)
def _services(tape: str, tokenizer: str | None) -> tuple[Services, str]:
    """The tape's embedder and the budget's token counter, and the counter's name for the reports."""
    from glyph_dist.fgt.store import load_tape, load_tokenizer

    loaded = load_tape(tape)
    counter = load_tokenizer(tokenizer) if tokenizer else loaded.tokenizer
    name = f"tokenizer {tokenizer}" if tokenizer else f"tokenizer of tape {loaded.version}"
    return Services(embed=loaded.embedder.encode,
                    count=lambda text: len(counter(text, add_special_tokens=False).input_ids)), name


@functools.lru_cache(maxsize=8)
def _items(path: Path) -> list[Item]:
    from glyph_dist.memory.suites.io import read_suite

    return read_suite(path)


def evaluate(memory: MemoryModule, items: list[Item], budget: int, answerer: Answerer, judge: Judge, count) -> dict:
    """Teach the whole stream, then ask every question with the memory's context in the prompt; the suite's
    scores, the judge's containment (and an LLM judge's rates), and the model-free evidence recalls."""
    from glyph_dist.memory.suites.scoring import aggregate, score

    start = time.perf_counter()
    for item in items:
        for statement in item.teach:
            memory.write(statement)
    write_seconds = time.perf_counter() - start
    contexts, read_seconds = [], 0.0
    for item in items:
        start = time.perf_counter()
        contexts.append(memory.read(item.question, budget))
        read_seconds += time.perf_counter() - start
    tokens = [count(context) for context in contexts]
    over = [(item.item_id, t) for item, t in zip(items, tokens) if t > budget]
    if over:
        raise GlyphDistError(f"{memory.name} returned {len(over)} contexts over the budget of {budget} tokens, "
                             f"e.g. item {over[0][0]}: {over[0][1]} tokens")
    requests = [QARequest(item.question, context, item.answer, item.evidence) for item, context in zip(items, contexts)]
    start = time.perf_counter()
    answers = answerer.answer(requests)
    answer_seconds = time.perf_counter() - start
    present = [[ContextRecall.recalled(replace(r, evidence_texts=(e,))) for e in r.evidence_texts] for r in requests]
    metrics = aggregate([score(item, answer) for item, answer in zip(items, answers)])
    judged = judge.score(answers, [item.answer for item in items], [item.question for item in items])
    metrics |= {"contains": sum(s["contains"] for s in judged) / len(items), **llm_rates(judged)}
    if items[0].suite == "spatial":  # null where undefined, e.g. sub-optimality without a successful route
        metrics = {key: None for key in SPATIAL_METRICS} | metrics
    return {**metrics,
            "memory_hit_rate": sum(map(ContextRecall.recalled, requests)) / len(items),
            "evidence_recall": sum(sum(p) / len(p) for p in present if p) / len(items),
            "tokens": sum(tokens), "avg_context_tokens": sum(tokens) / len(items), "max_context_tokens": max(tokens),
            "latency_ms_mean": 1e3 * read_seconds / len(items),
            "time_ms_per_100": 1e5 * (read_seconds + answer_seconds) / len(items),
            "write_seconds": write_seconds,
            "write_rate": sum(len(item.teach) for item in items) / max(write_seconds, 1e-9)}


def _model_surprise(answerer: Answerer, items: list[Item]):
    """The answering model's surprise at each teach statement, scored in one batch up front; None
    for a model-free answerer (HEI-NW then takes surprise from its embedder)."""
    texts = sorted({statement.text for item in items for statement in item.teach})
    scores = answerer.surprise(texts)
    if scores is None:
        return None
    table = dict(zip(texts, scores))
    return lambda batch: np.array([table[text] for text in batch], dtype=np.float32)


def run(trial: dict) -> dict:
    """One trial: the memory's metrics and counters on the suite, with telemetry."""
    memory_name, config, variant, changes = trial_config(trial)
    answerer, judge = shared_answerer(trial["answerer"]), shared_judge(trial["judge"])
    items = _items(suite_path(trial))
    logged: list[str] = []
    base, token_counter = _services(trial["tape"], trial.get("tokenizer"))
    services = Services(**{**vars(base), "log": logged.append,
                           "surprise": _model_surprise(answerer, items) if memory_name in ("hei_nw", "all") else None})
    memory = build_memory(memory_name, services, config)
    budget = int(trial["window"]) if memory_name == "longctx" else int(trial["budget"])
    metrics = evaluate(memory, items, budget, answerer, judge, services.count)
    log = logged[:LOG_LINES] + ([f"... and {len(logged) - LOG_LINES} more lines"] if len(logged) > LOG_LINES else [])
    return {**metrics, "rss_mb": psutil.Process().memory_info().rss / 2**20,  # now, not the reused actor's peak
            "variant": variant, "memory": memory_name, "ablation": changes, "answerer_name": answerer.name,
            "judge_name": judge.name, "token_counter": token_counter,
            "counters": memory.counters(), "log": log, "config": config.model_dump()}


def _config_hash(trial: dict) -> str:
    return hashlib.sha256(json.dumps(trial, sort_keys=True, default=str).encode()).hexdigest()[:16]


def finish(trials_and_rows: list[tuple[dict, dict]], out: Path, report: Path | None, run_dir: Path) -> list[Path]:
    """Per trial `metrics.json`, `metrics.csv`, `meta.json` under the trial's `runs_dir` (`out` is not
    used: the planned trials were recorded there already); then `<report>/<DATE>/` for each date."""
    run_meta = read_json(run_dir / "meta.json")
    paths = []
    for trial, row in trials_and_rows:
        directory = trial_dir(trial, row["variant"])
        config = {"date": trial["date"], "preset": trial["preset"], "variant": row["variant"], "memory": row["memory"],
                  "ablation": row["ablation"], "suite": trial["suite"], "n": int(trial["n"]),
                  "seed": int(trial["seeds"]), "profile": trial["profile"], "answerer": row["answerer_name"],
                  "judge": row["judge_name"], "token_counter": row["token_counter"],
                  "budget": int(trial["budget"]), "window": int(trial["window"]), "config_hash": _config_hash(trial)}
        metrics = {k: v for k, v in row.items()
                   if (isinstance(v, (int, float)) and not isinstance(v, bool)) or k in SPATIAL_METRICS}
        if row["log"]:
            more = f" (and {len(row['log']) - 1} more lines in its metrics.json)" if len(row["log"]) > 1 else ""
            print(f"{row['variant']} {trial['suite']} {trial['n']}_{trial['seeds']}: {row['log'][0]}{more}",
                  file=sys.stderr)
        document = {"config": config, "metrics": metrics, "counters": row["counters"], "module_config": row["config"],
                    "log": row["log"]}
        write_text(directory / "metrics.json", json.dumps(document, indent=1) + "\n")
        write_text(directory / "metrics.csv", pd.DataFrame([{**config, "ablation": json.dumps(row["ablation"]),
                                                               **metrics}]).to_csv(index=False))
        meta = {**copy.deepcopy(run_meta), "trial": trial, "config_hash": config["config_hash"],
                "run_dir": str(run_dir)}
        write_text(directory / "meta.json", json.dumps(meta, indent=1) + "\n")
        paths += [directory / "metrics.json", directory / "metrics.csv", directory / "meta.json"]
    if report is not None:
        from glyph_dist.reports.memory_eval import write_memory_report

        for date in sorted({trial["date"] for trial, _ in trials_and_rows}):
            for runs_dir in sorted({trial["runs_dir"] for trial, _ in trials_and_rows}):
                paths += write_memory_report(Path(runs_dir), report, date)
    return paths
