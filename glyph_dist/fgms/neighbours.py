"""Relevance shared with neighbouring units.

In a conversation the rest of a fact often sits a few turns away from the turn that matches the
question: the other half of a multi-hop answer, the line that dates the session, the reply that
confirms a booking. A read with `neighbours: w > 0` adds to each unit `weights.neighbours` times
the relevance of the most relevant unit at most `w` positions before or after it (in write order,
among the read's candidates). Only the `depth` most relevant units share (the units a read can
pack at most), so the cost does not grow with the memory.
"""

from __future__ import annotations

import numpy as np

from glyph_dist.fgms.policies import top


def neighbour_relevance(relevance: np.ndarray, window: int, depth: int) -> np.ndarray:
    """Each unit's best relevance among the `depth` most relevant units (with relevance above 0)
    within `window` positions of it, itself excluded; 0 where there is none."""
    shared = np.zeros_like(relevance)
    sources = top(relevance, depth)
    sources = sources[relevance[sources] > 0]
    for distance in range(1, window + 1):
        for targets in (sources - distance, sources + distance):
            inside = (targets >= 0) & (targets < len(relevance))
            np.maximum.at(shared, targets[inside], relevance[sources[inside]])
    return shared
