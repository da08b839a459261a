"""ALL: HEI-NW, SGC-RSS and SMPD together, routing each question by its type.

Every statement is offered to all three modules (each keeps what it can use). A question goes to
the first specialist that claims it (`handles`): SMPD for routes and end positions, SGC-RSS for
relational multi-hop questions; everything else goes to HEI-NW, the general episodic memory.
"""

from __future__ import annotations

from collections import Counter

from glyph_dist.memory.base import MemoryModule, ModuleConfig, Services, Statement
from glyph_dist.memory.hei_nw import HeiNw, HeiNwConfig
from glyph_dist.memory.sgc_rss import SgcRss, SgcRssConfig
from glyph_dist.memory.smpd import Smpd, SmpdConfig


class AllConfig(ModuleConfig):
    hei_nw: HeiNwConfig = HeiNwConfig()
    sgc_rss: SgcRssConfig = SgcRssConfig()
    smpd: SmpdConfig = SmpdConfig()


class AllMemory(MemoryModule):
    name = "all"
    uses_model_surprise = True  # HEI-NW inside it

    def __init__(self, services: Services, config: AllConfig | None = None):
        config = config or AllConfig()
        self.fallback = HeiNw(services, config.hei_nw)
        self.specialists: list[MemoryModule] = [Smpd(services, config.smpd), SgcRss(services, config.sgc_rss)]
        self.routed: Counter[str] = Counter()

    @property
    def modules(self) -> list[MemoryModule]:
        return [*self.specialists, self.fallback]

    def write(self, statement: Statement) -> None:
        for module in self.modules:
            module.write(statement)

    def route(self, question: str) -> MemoryModule:
        return next((m for m in self.specialists if m.handles(question)), self.fallback)

    def read(self, question: str, token_budget: int) -> str:
        module = self.route(question)
        self.routed[module.name] += 1
        return module.read(question, token_budget)

    def handles(self, question: str) -> bool:
        return any(m.handles(question) for m in self.specialists)

    def counters(self) -> dict[str, float | str]:
        counters: dict[str, float | str] = {f"routed_{m.name}": self.routed[m.name] for m in self.modules}
        for module in self.modules:
            counters.update({f"{module.name}.{key}": value for key, value in module.counters().items()})
        return counters
