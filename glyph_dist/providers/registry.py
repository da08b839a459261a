"""Every context provider by name: the context strategies and the memory modules.

`build_provider(name, setup, config)` builds one; `config` is a memory module's config (see
`memory/registry.py:build_config`, which applies presets and ablation knobs), None for a strategy.
"""

from __future__ import annotations

from glyph_dist.context.strategies import STRATEGIES, make_strategy
from glyph_dist.memory.base import ModuleConfig
from glyph_dist.memory.registry import MEMORIES
from glyph_dist.providers.adapters import MemoryProvider, StrategyProvider
from glyph_dist.providers.base import Capabilities, ContextProvider, Setup
from glyph_dist.registry import Registry

PROVIDERS: Registry[str] = Registry("provider", {**{name: "strategy" for name in STRATEGIES},
                                                 **{name: "memory" for name in MEMORIES}})


def is_memory(name: str) -> bool:
    """Whether the provider is a memory module (it takes a module config, presets and knobs)."""
    return PROVIDERS.get(name) == "memory"


def capabilities(name: str) -> Capabilities:
    """What the provider needs, known before one is built (to set up FGMS or the model's surprise)."""
    if is_memory(name):
        return MemoryProvider.capabilities_of(MEMORIES[name][0])
    return StrategyProvider.capabilities_of(STRATEGIES[name])


def build_provider(name: str, setup: Setup, config: ModuleConfig | None = None) -> ContextProvider:
    if is_memory(name):
        module, config_class = MEMORIES[name]
        return MemoryProvider(setup, module, config or config_class())
    return StrategyProvider(setup, make_strategy(name, setup.hybrid, setup.fgms, **setup.fgms_read))
