"""Scores of a prediction for a suite item, and their aggregate over a realisation.

Every item gets `em_raw` (the stripped prediction equals the answer), `em` and `f1` (on SQuAD-style
normalised text, see `glyph_dist.models.judges`). Spatial items add:
- route: the prediction is read as directions separated by commas, semicolons, "then" or
  whitespace (a final full stop is ignored) and followed from the start over the item's open seen
  edges, either way round. `spatial_success` is 1.0 when every move exists and the walk ends at the
  goal; `spatial_steps` is the number of moves predicted; `spatial_suboptimality` (steps / shortest
  - 1) is given only for successful routes.
- end_position: `spatial_success` is the exact match.
"""

from __future__ import annotations

import re
from statistics import fmean

from glyph_dist.errors import GlyphDistError
from glyph_dist.memory.base import Item
from glyph_dist.memory.base import OPPOSITE
from glyph_dist.metrics import exact_match, f1

_ROUTE_SEPARATOR = re.compile(r"(?:[\s,;]|\bthen\b)+", re.IGNORECASE)


def route_moves(prediction: str) -> list[str]:
    """The predicted moves, lower-cased, in order (words that are not directions are kept, and fail)."""
    return [move.lower() for move in _ROUTE_SEPARATOR.split(prediction.strip().rstrip(".")) if move]


def follow(start: str, moves: list[str], edges: list[list[str]]) -> str | None:
    """The place reached from `start` along `moves` over the open `edges`, or None at a move that has no edge."""
    step = {}
    for a, direction, b in edges:
        step[a, direction] = b
        step[b, OPPOSITE[direction]] = a
    here = start
    for move in moves:
        if (here, move) not in step:
            return None
        here = step[here, move]
    return here


def score(item: Item, prediction: str) -> dict[str, float]:
    scores = {"em_raw": float(prediction.strip() == item.answer), "em": exact_match(prediction, item.answer),
              "f1": f1(prediction, item.answer)}
    if item.kind == "route":
        moves = route_moves(prediction)
        success = follow(item.meta["start"], moves, item.meta["edges"]) == item.meta["goal"]
        scores |= {"spatial_success": float(success), "spatial_steps": float(len(moves))}
        if success:
            scores["spatial_suboptimality"] = len(moves) / item.meta["shortest"] - 1
    elif item.kind == "end_position":
        scores["spatial_success"] = scores["em"]
    return scores


def aggregate(scores: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each key over the items that have it, and `n_items`."""
    if not scores:
        raise GlyphDistError("no scores to aggregate")
    keys = list(dict.fromkeys(key for s in scores for key in s))
    return {**{key: fmean(s[key] for s in scores if key in s) for key in keys}, "n_items": float(len(scores))}
