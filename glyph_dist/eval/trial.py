"""One evaluation trial in plain Python: its typed parameters, its data set, its provider, its row.

An `eval` trial runs one provider (named directly, or through a preset with module settings and
ablation knobs) on one data set: a generated context-benchmark set (`agent_logs`, `public_dialog`), a memory
suite realisation (`episodic`, `semantic`, `spatial`, drawn for `n`, `seed` and `profile`), or any
JSONL file by path (episodes or suite items). The Ray shell (`runner/eval_trial.py`) checks the
trials, prepares data and shared actors, and calls `run_trial` in each trial actor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import psutil
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, NonNegativeFloat, NonNegativeInt, PositiveInt, ValidationError

from glyph_dist.errors import GlyphDistError
from glyph_dist.eval.episodes import Isolation, isolation_of, load_data
from glyph_dist.eval.loop import Answerer, Judge, evaluate, model_surprise, summarise
from glyph_dist.fgms.schema import DEFAULT_READ, Mode, Policy, Relevance, Unit, read_settings
from glyph_dist.memory.base import PROFILES
from glyph_dist.memory.combined import AllConfig
from glyph_dist.memory.registry import MEMORIES, build_config, changed_settings, check_knobs
from glyph_dist.memory_rows import SUITES
from glyph_dist.providers.base import Setup
from glyph_dist.providers.registry import PROVIDERS, build_provider, capabilities, is_memory
from glyph_dist.yamlconf import apply_overrides

GENERATED = ("agent_logs", "public_dialog")  # context-benchmark data sets made by `glyph-dist data prepare`, per seed
KNOBS = ("gate", "hopfield", "schema", "macro")  # memory settings an ablation may change
NO_ABLATION = "none"
LOG_LINES = 20  # of a provider's log kept in the row


def current_name(results: object) -> object:
    """`phase5`, the context benchmark's former name, reads as `context_bench`."""
    return "context_bench" if results == "phase5" else results


class EvalParams(BaseModel):
    """A trial's parameters; `suite`, `seeds` and `strategy` are accepted for dataset, seed and provider."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field(validation_alias=AliasChoices("dataset", "suite"))
    provider: str | None = Field(None, validation_alias=AliasChoices("provider", "strategy"))
    preset: str | None = None  # a name of `presets`, instead of `provider`
    presets: dict[str, dict] = {}  # name -> {provider: NAME, config: {...}}
    seed: int = Field(1337, validation_alias=AliasChoices("seed", "seeds"))
    split: str | None = None  # of a file with `split` keys; a file without them runs whole
    isolation: Isolation | None = None  # None: stream for a memory suite, episode otherwise
    n: PositiveInt = 50  # items of a generated suite
    profile: str = "easy"
    budget: PositiveInt
    window: PositiveInt = 2048  # the budget of a provider that reads the model's window (longctx)
    answerer: str = "context-recall"
    judge: str = "rule"
    policy: Policy = DEFAULT_READ["policy"]  # fgt_context's FGMS read
    mode: Mode = DEFAULT_READ["mode"]
    relevance: Relevance = DEFAULT_READ["relevance"]
    unit: Unit = DEFAULT_READ["unit"]
    neighbours: NonNegativeInt = DEFAULT_READ["neighbours"]
    gate: dict = {}
    hopfield: dict = {}
    schema_: dict = Field({}, alias="schema")
    macro: dict = {}
    ablation: str | None = None  # SECTION.KEY=VALUE[,...] on top of the knobs; none: no change
    max_items: PositiveInt | None = None  # store limit of every memory
    tape: str
    tokenizer: str | None = None
    data_dir: str = "data"
    runs_dir: str = "runs"
    date: str | None = None
    fgms_shards: PositiveInt = 1
    model_gpus: NonNegativeFloat = 0
    results: Annotated[Literal["context_bench", "memory_eval"], BeforeValidator(current_name)] = "context_bench"

    @property
    def fgms_read(self) -> dict:
        return read_settings(self)

    def knobs(self) -> dict[str, dict]:
        return {"gate": self.gate, "hopfield": self.hopfield, "schema": self.schema_, "macro": self.macro}


def parse_params(trial: dict, where: str = "eval") -> EvalParams:
    """The trial's typed parameters; every problem named by its key."""
    try:
        return EvalParams.model_validate(trial)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'trial'}: {e['msg']}" for e in exc.errors())
        raise GlyphDistError(f"{where}: {problems}") from None


def ablation_knobs(ablation: str | None) -> dict[str, dict]:
    """`gate.enabled=false,hopfield.enabled=false` as knob sections; `none` is no change."""
    parts = [] if ablation in (None, NO_ABLATION) else str(ablation).split(",")
    knobs = apply_overrides({}, parts, dict.fromkeys(KNOBS, dict), KNOBS, what="ablation")
    flat = [section for section, value in knobs.items() if not isinstance(value, dict)]
    if flat:
        raise GlyphDistError(f"ablation {ablation!r}: {flat[0]} needs a key, as in {flat[0]}.KEY=VALUE")
    return knobs


def provider_of(params: EvalParams) -> tuple[str, dict]:
    """The provider and its module options: named directly, or by the preset."""
    if (params.provider is None) == (params.preset is None):
        raise GlyphDistError("a trial names either a provider (or strategy) or a preset")
    if params.provider is not None:
        PROVIDERS.get(params.provider)
        return params.provider, {}
    if params.preset not in params.presets:
        raise GlyphDistError(f"unknown preset {params.preset!r}; known: {', '.join(params.presets)}")
    preset = params.presets[params.preset]
    name = preset.get("provider", preset.get("memory")) if isinstance(preset, dict) else None
    if name is None:
        raise GlyphDistError(f"preset {params.preset!r}: expected a mapping with a 'provider' key")
    PROVIDERS.get(name)
    return name, dict(preset.get("config") or {})


def trial_config(params: EvalParams):
    """(provider, module config or None, variant, changed settings) of a trial."""
    name, options = provider_of(params)
    label = params.preset or name
    knobs = {section: dict(values) for section, values in params.knobs().items()}
    for section, values in ablation_knobs(params.ablation).items():
        knobs[section].update(values)
    check_knobs(knobs)
    if not is_memory(name):
        if options:
            raise GlyphDistError(f"preset {label!r}: {name} takes no module config")
        return name, None, label, {}
    if params.max_items is not None:  # every store with a limit; ALL's three modules each
        if name == "all":
            for module in AllConfig.model_fields:
                options.setdefault(module, {})["max_items"] = params.max_items
        elif "max_items" in MEMORIES[name][1].model_fields:
            options["max_items"] = params.max_items
    config = build_config(name, knobs, options)
    changes = changed_settings(name, build_config(name, {}, options), config)
    variant = label + ("+" + ",".join(f"{k}={json.dumps(v)}" for k, v in changes.items()) if changes else "")
    return name, config, variant, changes


def dataset_path(params: EvalParams) -> Path:
    """A generated context-benchmark set (its realisation for the seed), a suite realisation, or a JSONL file by path."""
    data = Path(params.data_dir).resolve()
    if params.dataset in GENERATED:
        return data / "seeds" / str(params.seed) / "phase5" / f"{params.dataset}.jsonl"
    if params.dataset in SUITES:
        if params.profile not in PROFILES:
            raise GlyphDistError(f"unknown profile {params.profile!r}; known: {', '.join(PROFILES)}")
        return data / "memory" / params.dataset / f"{params.profile}_n{params.n}_s{params.seed}.jsonl"
    path = Path(params.dataset)
    if path.suffix != ".jsonl":
        raise GlyphDistError(f"unknown dataset {params.dataset!r}: use {', '.join(GENERATED + SUITES)}, "
                             "or a path to a .jsonl file")
    return path.resolve()


def dataset_name(params: EvalParams) -> str:
    return params.dataset if params.dataset in GENERATED + SUITES else Path(params.dataset).stem


def budget_of(params: EvalParams, provider: str) -> int:
    return params.window if capabilities(provider).reads_window else params.budget


def run_trial(params: EvalParams, setup: Setup, answerer: Answerer, judge: Judge) -> dict:
    """The trial's row: the loop's summary, the provider's counters and log, and telemetry. `setup`
    carries the token counter and FGMS; the answering model's surprise is added when the provider
    takes it."""
    name, config, variant, changes = trial_config(params)
    path = dataset_path(params)
    isolation = isolation_of(path, params.isolation)
    episodes = load_data(path, params.split, isolation)
    logged: list[str] = []
    setup.log = logged.append
    if capabilities(name).needs_surprise:
        setup.surprise = model_surprise(answerer, [text for e in episodes for _, text in e.turns])
    provider = build_provider(name, setup, config)
    row = summarise(*evaluate(provider, episodes, budget_of(params, name), answerer, judge))
    log = logged[:LOG_LINES] + ([f"... and {len(logged) - LOG_LINES} more lines"] if len(logged) > LOG_LINES else [])
    return {**row, "provider": name, "variant": variant, "ablation": changes, "isolation": isolation,
            "answerer": answerer.name, "judge": judge.name, "counters": provider.counters(), "log": log,
            "config": config.model_dump() if config is not None else {},
            "rss_mb": psutil.Process().memory_info().rss / 2**20}  # now, not a reused trial actor's peak
