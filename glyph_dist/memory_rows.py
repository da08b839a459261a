"""The names a memory-evaluation result row is made of, shared by the modules that write rows (the
suites and the memory trial) and the report that reads them, so the report needs no memory code."""

from __future__ import annotations

SUITES = ("episodic", "semantic", "spatial")
SPATIAL_METRICS = ("spatial_success", "spatial_steps", "spatial_suboptimality")  # the spatial suite's extra scores
