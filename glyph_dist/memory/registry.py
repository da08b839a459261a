"""Memory modules by name, and their configs built from the experiment's knob sections.

An experiment sets module knobs in sections named after what they switch (`gate`, `hopfield`,
`schema`, `macro`, ...); each module takes the sections its config declares and ignores the rest,
so one ablation override (`gate.enabled=false`) reaches every module that has a write gate,
including the three inside ALL. The variant name of a trial lists the knobs that differ from the
module's defaults, e.g. `memory/hei_nw+gate.enabled=false`.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ValidationError

from glyph_dist.errors import GlyphDistError
from glyph_dist.memory.base import MemoryModule, ModuleConfig, Services
from glyph_dist.memory.baselines import Core, CoreConfig, LongCtx, LongCtxConfig, Rag, RagConfig
from glyph_dist.memory.combined import AllConfig, AllMemory
from glyph_dist.memory.hei_nw import HeiNw, HeiNwConfig
from glyph_dist.memory.sgc_rss import SgcRss, SgcRssConfig
from glyph_dist.memory.smpd import Smpd, SmpdConfig
from glyph_dist.registry import Registry

MEMORIES: Registry[tuple[type[MemoryModule], type[ModuleConfig]]] = Registry("memory", {
    "core": (Core, CoreConfig),
    "rag": (Rag, RagConfig),
    "longctx": (LongCtx, LongCtxConfig),
    "hei_nw": (HeiNw, HeiNwConfig),
    "sgc_rss": (SgcRss, SgcRssConfig),
    "smpd": (Smpd, SmpdConfig),
    "all": (AllMemory, AllConfig),
})


def _flatten(values: Mapping, prefix: str = "") -> dict[str, object]:
    flat = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _merge(base: dict, update: Mapping) -> dict:
    merged = dict(base)
    for key, value in update.items():
        merged[key] = _merge(merged.get(key, {}), value) if isinstance(value, Mapping) else value
    return merged


def _knob_sections(config_class: type[ModuleConfig], knobs: Mapping[str, Mapping]) -> dict:
    """The knobs the config declares (a `gate` section of one module may hold keys another's lacks);
    ALL hands them to each of its modules' configs."""
    if config_class is AllConfig:
        return {name: _knob_sections(field.annotation, knobs) for name, field in AllConfig.model_fields.items()}
    sections = {}
    for name, values in knobs.items():
        field = config_class.model_fields.get(name)
        if field is not None:
            declared = field.annotation.model_fields if isinstance(field.annotation, type) and \
                issubclass(field.annotation, BaseModel) else {}
            sections[name] = {key: value for key, value in values.items() if key in declared}
    return sections


def _declared(config: BaseModel, key: str) -> bool:
    node: object = config
    for part in key.split("."):
        if not isinstance(node, BaseModel) or part not in type(node).model_fields:
            return False
        node = getattr(node, part)
    return True


def build_config(memory: str, knobs: Mapping[str, Mapping], options: Mapping | None = None) -> ModuleConfig:
    """The module's config: its defaults, then its preset options, then the knob sections it declares."""
    config_class = MEMORIES.get(memory)[1]
    try:
        return config_class.model_validate(_merge(dict(options or {}), _knob_sections(config_class, knobs)))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise GlyphDistError(f"memory {memory!r} config: {problems}") from None


def check_knobs(knobs: Mapping[str, Mapping]) -> None:
    """Every knob names a setting of at least one module (a typo would otherwise be ignored)."""
    defaults = [config_class() for name, (_, config_class) in MEMORIES.items() if name != "all"]
    for key in _flatten(knobs):
        if not any(_declared(default, key) for default in defaults):
            raise GlyphDistError(f"unknown memory setting {key!r}: no memory module declares it")


def changed_settings(memory: str, reference: ModuleConfig, config: ModuleConfig) -> dict[str, object]:
    """`section.key: value` of the settings where `config` differs from `reference` (for ALL, one
    entry per setting, whichever of its three modules it reached)."""
    before, after = _flatten(reference.model_dump()), _flatten(config.model_dump())
    changes = {key: value for key, value in after.items() if before.get(key) != value}
    if memory == "all":
        changes = {key.split(".", 1)[1]: value for key, value in changes.items()}
    return dict(sorted(changes.items()))


def build_memory(memory: str, services: Services, config: ModuleConfig) -> MemoryModule:
    return MEMORIES[memory][0](services, config)
