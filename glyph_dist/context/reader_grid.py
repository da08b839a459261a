"""The reader's grid: the context strategies, budgets and FGMS read options that its training pairs
(`data reader-pairs`) are built with and its evaluation (`eval reader`) reads with by default."""

from __future__ import annotations

from glyph_dist.context.bench import DEFAULT_STRATEGIES, CellConfig
from glyph_dist.fgms.schema import read_settings

STRATEGIES = tuple(s for s in DEFAULT_STRATEGIES if s != "full")  # `full` has no budget
BUDGETS = (64, 128)
FGMS_OPTIONS = read_settings(CellConfig)  # as the benchmark reads
