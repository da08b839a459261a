"""What the BitNet and Quiet-STaR job configs share: a dataclass from a YAML mapping (unknown keys an
error, paths absolute, `model`/`tokenizer` resolved through the catalog) and its type checks."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from pathlib import Path

from glyph_dist.errors import GlyphDistError
from glyph_dist.forge.cognate.config import _check_type
from glyph_dist.models.catalog import resolve_model

T = typing.TypeVar("T")


def check_types(config, source: str) -> None:
    """Every field checked against its type hint (an int is taken for a float)."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        setattr(config, f.name, _check_type(f.name, getattr(config, f.name), hints[f.name], source))


def from_mapping(cls: type[T], values: dict, check: Callable[[T, str], T], source: str) -> T:
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise GlyphDistError(f"{source}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(known)}")
    config = check(cls(**values), source)
    paths = {k: str(Path(getattr(config, k)).expanduser().resolve()) for k in ("storage_path", "datasets")}
    models = {k: str(resolve_model(getattr(config, k))) for k in ("model", "tokenizer") if getattr(config, k)}
    return dataclasses.replace(config, **paths, **models)

